#include "windows/tcpip.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_set>

namespace parasight::windows {

namespace {

enum class Kind { kTcb, kAddr };

constexpr uint32_t kTagTcpt = 0x54504354;  // "TCPT" as it appears in memory
constexpr uint32_t kTagTcpa = 0x41504354;  // "TCPA"
// FILETIMEs for 1998-01-01 and 2040-01-01: address-object creation times outside are not plausible.
constexpr uint64_t kFileTime1998 = (883612800ull + 11644473600ull) * 10000000ull;
constexpr uint64_t kFileTime2040 = (2208988800ull + 11644473600ull) * 10000000ull;

const char* kindName(Kind k) { return k == Kind::kTcb ? "_TCBTable" : "_AddrObjTable"; }

class Tables {
 public:
  Tables(AddressSpace& as, const TcpipLayout& l, const TcpipLimits& lim, Problems& p)
      : as_(as), l_(l), lim_(lim), problems_(p) {
    obj_.resize(std::max(l.tcbSize, l.aoSize));
  }

  enum Verdict { kInvalid = 0, kValid = 1, kUnreadable = 2 };
  // Object at va: its pool tag is ours, or (tag unknown and fields plausible). Unreadable (paged out, hole) is
  // neither: a bucket may point at an object we cannot see.
  Verdict check(uint64_t va, Kind k) {
    if (!kernelVa(va) || (va & 3)) return kInvalid;
    if (!load(va, k)) return kUnreadable;
    return valid(va, k) ? kValid : kInvalid;
  }

  // The object just load()ed at va.
  bool valid(uint64_t va, Kind k) {
    uint32_t tag = 0;
    Error err;
    if (as_.readU32(va - 4, &tag, &err)) {
      if (tag == (k == Kind::kTcb ? kTagTcpt : kTagTcpa)) return true;
      if (tag == (k == Kind::kTcb ? kTagTcpa : kTagTcpt)) return false;
    }
    const uint8_t* b = obj_.data();
    if (k == Kind::kTcb) {
      uint32_t pid = le32(b + l_.tcbPid);
      return be16(b + l_.tcbLocalPort) != 0 && be16(b + l_.tcbRemotePort) != 0 && pid % 4 == 0 && pid < 0x40000;
    }
    uint32_t pid = le32(b + l_.aoPid);
    uint64_t t = le64(b + l_.aoCreateTime);
    return pid % 4 == 0 && pid < 0x40000 && le16(b + l_.aoProtocol) <= 255 && t > kFileTime1998 && t < kFileTime2040;
  }

  // Length of the run of bucket entries from `table` that are NULL or valid objects (≤ max), and how many of
  // them are non-NULL. Stops at the first implausible entry or unreadable page.
  uint32_t run(uint64_t table, uint32_t max, Kind k, uint32_t* live, uint32_t* lastLive = nullptr) {
    *live = 0;
    if (lastLive) *lastLive = 0;
    uint32_t n = 0;
    uint32_t page[1024];
    while (n < max) {
      uint64_t at = table + 4ull * n;
      size_t want = std::min<size_t>(0x1000 - (at & 0xfff), 4ull * (max - n));
      Error err;
      size_t got = as_.read(at, page, want, &err);
      for (size_t i = 0; i < got / 4; i++, n++) {
        uint32_t e = page[i];
        if (e == 0) continue;
        Verdict v = check(e, k);
        if (v == kInvalid) return n;
        if (v == kValid) {
          ++*live;
          if (lastLive) *lastLive = n + 1;
        }
      }
      if (got < want) return n;
      // A scan candidate pointing into a zero page: give up once it is clearly not a populated table.
      if (*live == 0 && n >= 4096) return n;
    }
    return n;
  }

  // Walks `count` buckets; strict = only objects that pass valid() (the count itself was not trusted).
  uint32_t walk(uint64_t table, uint32_t count, Kind k, bool strict, TcpipResult* out) {
    std::vector<uint32_t> buckets(count);
    Error err;
    size_t got = as_.read(table, buckets.data(), 4ull * count, &err) / 4;
    if (got < count) {
      problems_.read(err, std::string(kindName(k)) + " bucket array (" + std::to_string(count) + " buckets) cut at " +
                              std::to_string(got),
                     table, "tcpip");
    }
    uint32_t objects = 0;
    for (size_t i = 0; i < got; i++) {
      uint64_t p = buckets[i];
      uint32_t chain = 0;
      while (p != 0) {
        if (total() >= lim_.maxObjects) {
          problems_.add("LIMIT", "more than " + std::to_string(lim_.maxObjects) + " tcpip objects: walk stopped", p,
                        "tcpip");
          return objects;
        }
        if (!seen_.insert(p).second) {
          problems_.add("CYCLE", std::string(kindName(k)) + " bucket " + std::to_string(i) + " chain returns to " + hex(p),
                        p, "tcpip");
          break;
        }
        if (!kernelVa(p)) {
          problems_.add("BAD_POINTER", std::string(kindName(k)) + " bucket " + std::to_string(i) + " chain leads to " + hex(p),
                        p, "tcpip");
          break;
        }
        if (!load(p, k)) {
          problems_.read(loadErr_, std::string(k == Kind::kTcb ? "_TCPT_OBJECT" : "_ADDRESS_OBJECT") + " at " + hex(p), p,
                         "tcpip");
          break;
        }
        if (strict && !valid(p, k)) {
          problems_.add("BAD_POINTER", std::string(kindName(k)) + " bucket " + std::to_string(i) + " leads to " + hex(p) +
                                           ", which does not look like a " +
                                           (k == Kind::kTcb ? "_TCPT_OBJECT" : "_ADDRESS_OBJECT"),
                        p, "tcpip");
          break;
        }
        emit(p, k, out);
        objects++;
        if (++chain > lim_.maxChain) {
          problems_.add("LIMIT", "bucket " + std::to_string(i) + " chain longer than " + std::to_string(lim_.maxChain), p,
                        "tcpip");
          break;
        }
        p = le32(obj_.data() + (k == Kind::kTcb ? l_.tcbNext : l_.aoNext));
      }
    }
    return objects;
  }

  size_t total() const { return connections_ + sockets_; }

 private:
  bool load(uint64_t va, Kind k) {
    size_t n = k == Kind::kTcb ? l_.tcbSize : l_.aoSize;
    loadErr_ = Error();
    return as_.read(va, obj_.data(), n, &loadErr_) == n;
  }

  void emit(uint64_t va, Kind k, TcpipResult* out) {
    const uint8_t* b = obj_.data();
    if (k == Kind::kTcb) {
      out->connections.push_back(decodeTcb(b, l_, va));
      connections_++;
    } else {
      out->sockets.push_back(decodeAddrObj(b, l_, va));
      sockets_++;
    }
  }

  AddressSpace& as_;
  const TcpipLayout& l_;
  const TcpipLimits& lim_;
  Problems& problems_;
  std::vector<uint8_t> obj_;
  Error loadErr_;
  std::unordered_set<uint64_t> seen_;
  size_t connections_ = 0, sockets_ = 0;
};

// Tries one known RVA set for one table; fills `loc` when the variables hold a usable table.
bool tryRvas(AddressSpace& as, Tables& t, uint64_t base, const TcpipRvas& r, Kind k, const TcpipLimits& lim,
             TableLocation* loc, bool* absurd) {
  uint64_t var = base + (k == Kind::kTcb ? r.tcbTable : r.addrObjTable);
  uint64_t countVar = base + (k == Kind::kTcb ? r.tcbSize : r.addrObjTableSize);
  uint64_t table = 0;
  uint32_t count = k == Kind::kTcb ? r.tcbCount : r.addrObjCount;
  Error err;
  if (count != 0) countVar = 0;
  if (!as.readPointer(var, &table, &err) || (countVar != 0 && !as.readU32(countVar, &count, &err))) return false;
  if (count == 0 || !kernelVa(table)) return false;
  uint32_t live = 0;
  uint32_t probe = std::min(count, lim.maxBuckets);
  uint32_t n = t.run(table, probe, k, &live);
  *absurd = count > lim.maxBuckets;
  // Trusted count: the whole array must check out. Absurd count: keep the plausible run, if it has objects.
  if (!*absurd && n < probe) return false;
  if ((*absurd || !r.exact) && live == 0) return false;
  loc->found = true;
  loc->how = "rva:" + r.name;
  loc->variable = var;
  loc->countVariable = countVar;
  loc->table = table;
  loc->count = *absurd ? n : count;
  return true;
}

// Searches the driver's writable sections for the table pointer; the count is the variable next to it when that
// fits, else the largest power of two ≤ the run found in the same data, else the run itself.
// Without a readable PE header (or writable sections), the whole image is searched.
bool scanData(AddressSpace& as, Tables& t, uint64_t base, uint32_t imageSize, const PeInfo& pe, Kind k,
              const TcpipLimits& lim, uint64_t exclude, TableLocation* loc) {
  std::vector<std::pair<uint64_t, uint32_t>> words;  // (va, value)
  std::vector<PeSection> sections;
  for (const PeSection& s : pe.sections) {
    if (s.flags & 0x80000000u) sections.push_back(s);  // IMAGE_SCN_MEM_WRITE
  }
  if (sections.empty()) sections.push_back({"image", 0, std::min<uint32_t>(imageSize, 16u << 20), 0x80000000u});
  for (const PeSection& s : sections) {
    if (!(s.flags & 0x80000000u) || s.size == 0 || s.size > (16u << 20)) continue;  // IMAGE_SCN_MEM_WRITE
    std::vector<uint8_t> page(0x1000);
    for (uint32_t off = s.rva & ~0xfffu; off < s.rva + s.size; off += 0x1000) {
      Error err;
      if (as.read(base + off, page.data(), page.size(), &err) != page.size()) continue;
      for (uint32_t i = 0; i < 0x1000; i += 4) words.emplace_back(base + off + i, le32(&page[i]));
    }
  }
  std::map<uint32_t, bool> countValues;
  for (auto& w : words) {
    if (w.second > 0 && w.second <= lim.maxBuckets) countValues[w.second] = true;
  }
  std::unordered_set<uint32_t> tried;
  uint32_t bestLive = 0, bestRun = 0, bestLast = 0;
  uint64_t bestVar = 0, bestTable = 0;
  for (size_t i = 0; i < words.size(); i++) {
    uint32_t v = words[i].second;
    if (!kernelVa(v) || (v & 3) || v == exclude || !tried.insert(v).second) continue;
    uint32_t live = 0, last = 0;
    uint32_t n = t.run(v, lim.maxBuckets, k, &live, &last);
    if (live > bestLive) {
      bestLive = live;
      bestRun = n;
      bestLast = last;
      bestVar = words[i].first;
      bestTable = v;
    }
  }
  if (bestLive == 0) return false;
  uint32_t count = 0;
  uint64_t countVar = 0;
  for (auto& w : words) {
    if (w.first == bestVar + 4 && w.second > 0 && w.second <= bestRun) {
      count = w.second;
      countVar = w.first;
    }
  }
  if (count == 0) {
    for (auto it = countValues.rbegin(); it != countValues.rend(); ++it) {
      uint32_t c = it->first;
      if (c <= bestRun && (c & (c - 1)) == 0) {
        count = c;
        break;
      }
    }
  }
  // A count below the last live bucket would drop objects: that bucket is the floor.
  if (count < bestLast) {
    count = bestRun;
    countVar = 0;
  }
  loc->found = true;
  loc->how = "scan";
  loc->variable = bestVar;
  loc->countVariable = countVar;
  loc->table = bestTable;
  loc->count = count;
  return true;
}

}  // namespace

ConnectionRecord decodeTcb(const uint8_t* b, const TcpipLayout& l, uint64_t address) {
  ConnectionRecord c;
  c.address = address;
  std::memcpy(c.localIp, b + l.tcbLocalIp, 4);
  std::memcpy(c.remoteIp, b + l.tcbRemoteIp, 4);
  c.localPort = be16(b + l.tcbLocalPort);
  c.remotePort = be16(b + l.tcbRemotePort);
  c.pid = le32(b + l.tcbPid);
  return c;
}

SocketRecord decodeAddrObj(const uint8_t* b, const TcpipLayout& l, uint64_t address) {
  SocketRecord s;
  s.address = address;
  std::memcpy(s.localIp, b + l.aoLocalIp, 4);
  s.port = be16(b + l.aoLocalPort);
  s.protocol = le16(b + l.aoProtocol);
  s.pid = le32(b + l.aoPid);
  s.createTime = le64(b + l.aoCreateTime);
  return s;
}

TcpipResult walkTcpip(AddressSpace& as, const TcpipLayout& l, uint64_t base, uint32_t imageSize, const PeInfo& pe,
                      const std::vector<TcpipRvas>& known, bool scan, const TcpipLimits& limits, Problems& problems) {
  TcpipResult out;
  Tables t(as, l, limits, problems);
  for (Kind k : {Kind::kTcb, Kind::kAddr}) {
    TableLocation& loc = k == Kind::kTcb ? out.tcb : out.addr;
    bool absurd = false;
    for (const TcpipRvas& r : known) {
      if (tryRvas(as, t, base, r, k, limits, &loc, &absurd)) break;
      absurd = false;  // only the set that was used may report its count
    }
    if (!loc.found && scan) {
      uint64_t exclude = k == Kind::kAddr ? out.tcb.table : 0;
      scanData(as, t, base, pe.ok && pe.sizeOfImage ? pe.sizeOfImage : imageSize, pe, k, limits, exclude, &loc);
    }
    if (!loc.found) {
      problems.add("NOT_FOUND",
                   std::string(kindName(k)) + " not found in tcpip.sys at " + hex(base) +
                       (k == Kind::kTcb ? " (no known RVA set validated and no populated table in its data: unknown "
                                          "build, or no open connections)"
                                        : " (no known RVA set validated and no populated table in its data)"),
                   base, "tcpip");
      continue;
    }
    if (absurd) {
      problems.add("LIMIT", std::string(kindName(k)) + " size variable at " + hex(loc.countVariable) +
                                " holds an absurd bucket count; walked the " + std::to_string(loc.count) +
                                " plausible buckets only",
                   loc.countVariable, "tcpip");
    }
    t.walk(loc.table, loc.count, k, absurd || loc.how == "scan", &out);
  }
  return out;
}

}  // namespace parasight::windows
