#include "memory/segmented_file_memory.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "memory/fault_guard.h"

namespace parasight {

std::unique_ptr<SegmentedFileMemory> SegmentedFileMemory::create(const char* kind, std::unique_ptr<MappedFile> file,
                                                                  std::vector<FileSegment> segments, bool stable,
                                                                  Error* err) {
  std::sort(segments.begin(), segments.end(),
            [](const FileSegment& a, const FileSegment& b) { return a.physStart < b.physStart; });
  segments.erase(std::remove_if(segments.begin(), segments.end(), [](const FileSegment& s) { return s.length == 0; }),
                 segments.end());
  for (size_t i = 0; i < segments.size(); i++) {
    const FileSegment& s = segments[i];
    if (s.fileOffset > file->size() || s.length > file->size() - s.fileOffset) {
      *err = Error::make(Errc::kFormat, s.physStart,
                         file->path() + ": segment for physical " + hex(s.physStart) + " (+" + hex(s.length) +
                             ") at file offset " + hex(s.fileOffset) + " runs past the end of the file (" +
                             hex(file->size()) + " bytes): truncated image?");
      return nullptr;
    }
    if (s.physStart + s.length < s.physStart) {
      *err = Error::make(Errc::kFormat, s.physStart, file->path() + ": segment wraps the physical address space");
      return nullptr;
    }
    if (i > 0 && segments[i - 1].physStart + segments[i - 1].length > s.physStart) {
      *err = Error::make(Errc::kFormat, s.physStart,
                         file->path() + ": segments overlap at physical " + hex(s.physStart));
      return nullptr;
    }
  }
  std::unique_ptr<SegmentedFileMemory> mem(new SegmentedFileMemory());  // private constructor
  mem->kind_ = kind;
  mem->file_ = std::move(file);
  mem->stable_ = stable;
  for (const FileSegment& s : segments) mem->ranges_.push_back({s.physStart, s.length});
  mem->segments_ = std::move(segments);
  return mem;
}

size_t SegmentedFileMemory::read(uint64_t pa, void* dst, size_t len, Error* err) {
  return readByRange(pa, dst, len, err, [this](size_t idx, uint64_t at, uint8_t* out, size_t chunk, Error* e) -> size_t {
    const FileSegment& s = segments_[idx];
    if (guardedCopy(out, file_->data() + s.fileOffset + (at - s.physStart), chunk)) return chunk;
    if (e) {
      *e = Error::make(Errc::kSourceGone, at,
                       file_->path() + ": file shrank while mapped (now " + hex(file_->currentSize()) +
                           " bytes); cannot read physical " + hex(at));
    }
    return 0;
  });
}

size_t SegmentedFileMemory::readBulk(uint64_t pa, void* dst, size_t len, Error* err) {
  return readByRange(pa, dst, len, err, [this](size_t idx, uint64_t at, uint8_t* out, size_t chunk, Error* e) -> size_t {
    const FileSegment& s = segments_[idx];
    size_t done = 0;
    while (done < chunk) {
      ssize_t got = pread(file_->fd(), out + done, chunk - done, static_cast<off_t>(s.fileOffset + (at - s.physStart) + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        if (e) {
          *e = got == 0 ? Error::make(Errc::kSourceGone, at + done, file_->path() + ": file ended at physical " + hex(at + done) + " (shrank?)")
                        : Error::make(Errc::kIo, at + done, file_->path() + ": read failed: " + std::strerror(errno));
        }
        return done;
      }
      done += static_cast<size_t>(got);
    }
    return done;
  });
}

namespace {

// State of one guarded run over a batch: `next` is the item being copied, so after a fault it names the culprit.
struct GatherRun {
  const std::vector<FileSegment>* segments;
  const uint8_t* base;
  const uint64_t* addrs;
  size_t count, itemSize;
  uint8_t* out;
  uint8_t* ok;  // 1 copied, 2 left for read()
  volatile size_t next;
};

constexpr size_t kPrefetchAhead = 16;

void gather(void* arg) {
  auto* g = static_cast<GatherRun*>(arg);
  const std::vector<FileSegment>& segs = *g->segments;
  size_t seg = 0;
  for (size_t i = g->next; i < g->count; i = g->next) {
    const uint64_t pa = g->addrs[i];
    // Batches of small items are bound by cache and TLB misses, not by the copies: ask for items ahead early so
    // that their misses overlap.
    if (i + kPrefetchAhead < g->count) {
      const uint64_t ahead = g->addrs[i + kPrefetchAhead];
      const FileSegment& s = segs[seg];
      if (ahead >= s.physStart && ahead - s.physStart < s.length) __builtin_prefetch(g->base + s.fileOffset + (ahead - s.physStart));
    }
    // Walker batches are mostly in one segment: try the last one before searching.
    if (pa < segs[seg].physStart || pa - segs[seg].physStart >= segs[seg].length) {
      seg = 0;
      while (seg < segs.size() && !(pa >= segs[seg].physStart && pa - segs[seg].physStart < segs[seg].length)) seg++;
    }
    if (seg == segs.size()) {
      seg = 0;
      g->ok[i] = 2;
    } else if (segs[seg].length - (pa - segs[seg].physStart) < g->itemSize) {
      g->ok[i] = 2;
    } else {
      std::memcpy(g->out + i * g->itemSize, g->base + segs[seg].fileOffset + (pa - segs[seg].physStart), g->itemSize);
      g->ok[i] = 1;
    }
    g->next = i + 1;
  }
}

}  // namespace

size_t SegmentedFileMemory::readMany(const uint64_t* addrs, size_t count, size_t itemSize, uint8_t* out, uint8_t* ok) {
  if (segments_.empty() || segments_.size() > 64) return PhysicalMemory::readMany(addrs, count, itemSize, out, ok);
  GatherRun g{&segments_, file_->data(), addrs, count, itemSize, out, ok, 0};
  while (g.next < count) {
    if (guardedCall(gather, &g)) break;
    ok[g.next] = 2;  // the item that faulted: read() reports it
    g.next = g.next + 1;
  }
  size_t good = 0;
  for (size_t i = 0; i < count; i++) {
    if (ok[i] == 2) {
      Error err;
      uint8_t* dst = out + i * itemSize;
      ok[i] = read(addrs[i], dst, itemSize, &err) == itemSize ? 1 : 0;
      if (!ok[i]) std::memset(dst, 0, itemSize);
    }
    good += ok[i];
  }
  return good;
}

const uint8_t* SegmentedFileMemory::direct(uint64_t pa, size_t len) const {
  if (!stable_) return nullptr;
  long idx = findRange(pa);
  if (idx < 0) return nullptr;
  const FileSegment& s = segments_[static_cast<size_t>(idx)];
  if (pa - s.physStart + len > s.length) return nullptr;
  return file_->data() + s.fileOffset + (pa - s.physStart);
}

}  // namespace parasight

namespace parasight {

bool SegmentedFileMemory::residentRanges(uint64_t pa, uint64_t len, std::vector<PhysRange>* out, Error* err) {
  uint64_t limit = pa + len < pa ? ~0ull : pa + len;
  for (const FileSegment& s : segments_) {
    if (s.physStart >= limit || s.physStart + s.length <= pa) continue;
    // Walk only the part of the segment that intersects the query, in file offsets.
    uint64_t from = s.fileOffset + (std::max(pa, s.physStart) - s.physStart);
    uint64_t to = s.fileOffset + (std::min(limit, s.physStart + s.length) - s.physStart);
    while (from < to) {
      off_t data = lseek(file_->fd(), static_cast<off_t>(from), SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) break;  // no data after `from`
        if (errno == EINVAL) {      // file system without hole support: all data
          appendClipped(s.physStart + (from - s.fileOffset), s.physStart + (to - s.fileOffset), pa, len, out);
          break;
        }
        if (err) *err = Error::make(Errc::kIo, 0, file_->path() + ": SEEK_DATA failed");
        return false;
      }
      if (static_cast<uint64_t>(data) >= to) break;
      off_t hole = lseek(file_->fd(), data, SEEK_HOLE);
      uint64_t holeAt = hole < 0 ? to : std::min<uint64_t>(static_cast<uint64_t>(hole), to);
      appendClipped(s.physStart + (static_cast<uint64_t>(data) - s.fileOffset), s.physStart + (holeAt - s.fileOffset),
                    pa, len, out);
      from = holeAt;
    }
  }
  return true;
}

}  // namespace parasight
