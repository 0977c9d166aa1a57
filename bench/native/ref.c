/*
 * Reference figures for the benchmarks, measured in the same run as ours: plain C doing the same work with nothing
 * of parasight in between (memcpy, read(), a sequential sum, a 4-level walk, XXH64/XXH3). Compiled by the bench
 * runner with gcc -O2; benchmark-only, never part of the addon.
 *
 *   ref memcpy FILE OFFSET LEN            copy LEN bytes of the (touched) mapping into a buffer
 *   ref sum FILE OFFSET LEN               sum the u64 words of the (touched) mapping
 *   ref read FILE                         read() the whole file into a reused 1 MiB buffer
 *   ref randpage FILE PAGES COUNT SEED    copy COUNT random 4 KiB pages (of the first PAGES) of the mapping
 *   ref pagelist FILE LIST COUNT          copy the first COUNT 4 KiB pages named by LIST (u64 file offsets) in order
 *   ref walk FILE DTB VABASE PAGES COUNT SEED   IA-32e 4-level walks of random addresses (no TLB)
 *   ref tlb PAGES COUNT SEED              direct-mapped array lookups (the TLB-hit floor)
 *   ref hash ALGO SIZE                    XXH64 / XXH3-64 of SIZE bytes in memory (ALGO = xxh64 | xxh3)
 *
 * Prints one JSON line: {"samples": [ns per op, ...]} (an op = the whole batch: COUNT pages, COUNT walks); the
 * runner computes p50/p99.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

static double nowNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile uint64_t sink;

static const uint8_t* mapFile(const char* path, size_t* size) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) { perror(path); exit(2); }
  struct stat st;
  fstat(fd, &st);
  *size = (size_t)st.st_size;
  const uint8_t* p = mmap(NULL, *size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(2); }
  close(fd);
  uint64_t s = 0;
  for (size_t i = 0; i < *size; i += 4096) s += p[i];  /* first touch paid here, not in the samples */
  sink = s;
  return p;
}

static uint64_t rng(uint64_t* s) {
  *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
  return *s;
}

/* Same sampling as benchmark.js on the JS side: one sample = the mean time per op over a cycle of >= 50 ms (so
 * preemption on a busy machine weighs the same on both sides); PARASIGHT_BENCH_REF_CYCLES samples (default 40). */
typedef void (*Op)(void* arg);
static void measure(Op op, void* arg) {
  const double cycleNs = getenv("PARASIGHT_BENCH_QUICK") && !strcmp(getenv("PARASIGHT_BENCH_QUICK"), "1") ? 2e7 : 5e7;
  /* The runner interleaves several rounds of ours and the reference: each round keeps this short. */
  const char* cyclesEnv = getenv("PARASIGHT_BENCH_REF_CYCLES");
  int cycles = cyclesEnv ? atoi(cyclesEnv) : 40;
  if (cycles < 5) cycles = 5;
  if (cycles > 200) cycles = 200;
  double samples[200];
  int n = 0;
  op(arg); /* warm-up */
  double t0 = nowNs();
  op(arg);
  double single = nowNs() - t0;
  long inner = single > 0 ? (long)(cycleNs / single) : 1;
  if (inner < 1) inner = 1;
  double start = nowNs();
  while (n < cycles && (n < 5 || nowNs() - start < cycles * cycleNs)) {
    double t = nowNs();
    for (long i = 0; i < inner; i++) op(arg);
    samples[n++] = (nowNs() - t) / inner;
  }
  printf("{\"samples\":[");
  for (int i = 0; i < n; i++) printf("%s%.3f", i ? "," : "", samples[i]);
  printf("]}\n");
}

struct Copy { const uint8_t* src; uint8_t* dst; size_t len; };
static void opMemcpy(void* a) { struct Copy* c = a; memcpy(c->dst, c->src, c->len); sink += c->dst[c->len - 1]; }
static void opSum(void* a) {
  struct Copy* c = a;
  const uint64_t* w = (const uint64_t*)c->src;
  uint64_t s = 0;
  for (size_t i = 0; i < c->len / 8; i++) s += w[i];
  sink += s;
}

struct Read { const char* path; uint8_t* buf; };
static void opRead(void* a) {
  struct Read* r = a;
  int fd = open(r->path, O_RDONLY);
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  ssize_t n;
  uint64_t total = 0;
  while ((n = read(fd, r->buf, 1 << 20)) > 0) total += (uint64_t)n;
  close(fd);
  sink += total;
}

struct Rand { const uint8_t* base; uint8_t* dst; uint64_t* offsets; size_t count; };
static void opRandPages(void* a) {
  struct Rand* r = a;
  for (size_t i = 0; i < r->count; i++) memcpy(r->dst, r->base + r->offsets[i], 4096);
  sink += r->dst[0];
}

struct List { const uint8_t* base; uint8_t* dst; uint64_t* offsets; size_t count; };
static void opPageList(void* a) {
  struct List* l = a;
  for (size_t i = 0; i < l->count; i++) memcpy(l->dst + i * 4096, l->base + l->offsets[i], 4096);
  sink += l->dst[0];
}

struct Walk { const uint8_t* mem; uint64_t dtb; uint64_t* vas; size_t count; uint64_t* out; };
static inline uint64_t entryAt(const uint8_t* mem, uint64_t pa) { uint64_t e; memcpy(&e, mem + pa, 8); return e; }
static void opWalk(void* a) {
  struct Walk* w = a;
  const uint64_t mask = 0x000ffffffffff000ull;
  for (size_t i = 0; i < w->count; i++) {
    uint64_t va = w->vas[i], table = w->dtb & mask, e = 0;
    int ok = 1;
    for (int shift = 39; shift >= 12; shift -= 9) {
      e = entryAt(w->mem, table + ((va >> shift) & 0x1ff) * 8);
      if (!(e & 1)) { ok = 0; break; }
      table = e & mask;
    }
    w->out[i] = ok ? (table | (va & 0xfff)) : ~0ull;
  }
  sink += w->out[0];
}

struct Tlb { uint64_t* tags; uint64_t* pas; uint64_t* vas; size_t count; uint64_t* out; };
static void opTlb(void* a) {
  struct Tlb* t = a;
  for (size_t i = 0; i < t->count; i++) {
    uint64_t va = t->vas[i], vpn = va >> 12;
    size_t slot = vpn & 4095;
    t->out[i] = t->tags[slot] == vpn ? (t->pas[slot] | (va & 0xfff)) : ~0ull;
  }
  sink += t->out[0];
}

struct Hash { const uint8_t* buf; size_t len; int xxh3; };
static void opHash(void* a) {
  struct Hash* h = a;
  sink += h->xxh3 ? XXH3_64bits(h->buf, h->len) : XXH64(h->buf, h->len, 0);
}

int main(int argc, char** argv) {
  if (argc < 2) { fprintf(stderr, "usage: see the header of ref.c\n"); return 2; }
  const char* cmd = argv[1];
  size_t size = 0;
  if (!strcmp(cmd, "memcpy") || !strcmp(cmd, "sum")) {
    const uint8_t* p = mapFile(argv[2], &size);
    struct Copy c = {p + strtoull(argv[3], 0, 0), NULL, strtoull(argv[4], 0, 0)};
    c.dst = aligned_alloc(4096, c.len);
    memset(c.dst, 1, c.len);
    measure(!strcmp(cmd, "memcpy") ? opMemcpy : opSum, &c);
  } else if (!strcmp(cmd, "read")) {
    struct Read r = {argv[2], aligned_alloc(4096, 1 << 20)};
    memset(r.buf, 1, 1 << 20);
    measure(opRead, &r);
  } else if (!strcmp(cmd, "randpage")) {
    const uint8_t* p = mapFile(argv[2], &size);
    size_t pages = strtoull(argv[3], 0, 0), count = strtoull(argv[4], 0, 0);
    uint64_t seed = strtoull(argv[5], 0, 0) | 1;
    struct Rand r = {p, aligned_alloc(4096, 4096), malloc(count * 8), count};
    for (size_t i = 0; i < count; i++) r.offsets[i] = (rng(&seed) % pages) * 4096;
    measure(opRandPages, &r);
  } else if (!strcmp(cmd, "pagelist")) {
    const uint8_t* p = mapFile(argv[2], &size);
    size_t count = strtoull(argv[4], 0, 0);
    struct List l = {p, aligned_alloc(4096, count * 4096), malloc(count * 8), count};
    memset(l.dst, 1, count * 4096);
    FILE* f = fopen(argv[3], "rb");
    if (f == NULL || fread(l.offsets, 8, count, f) != count) { perror(argv[3]); return 2; }
    fclose(f);
    measure(opPageList, &l);
  } else if (!strcmp(cmd, "walk")) {
    const uint8_t* p = mapFile(argv[2], &size);
    uint64_t dtb = strtoull(argv[3], 0, 0), vaBase = strtoull(argv[4], 0, 0);
    size_t pages = strtoull(argv[5], 0, 0), count = strtoull(argv[6], 0, 0);
    uint64_t seed = strtoull(argv[7], 0, 0) | 1;
    struct Walk w = {p, dtb, malloc(count * 8), count, malloc(count * 8)};
    for (size_t i = 0; i < count; i++) w.vas[i] = vaBase + (rng(&seed) % pages) * 4096 + (rng(&seed) & 0xfff);
    measure(opWalk, &w);
  } else if (!strcmp(cmd, "tlb")) {
    size_t pages = strtoull(argv[2], 0, 0), count = strtoull(argv[3], 0, 0);
    uint64_t seed = strtoull(argv[4], 0, 0) | 1;
    struct Tlb t = {malloc(4096 * 8), malloc(4096 * 8), malloc(count * 8), count, malloc(count * 8)};
    for (size_t i = 0; i < 4096; i++) { t.tags[i] = i; t.pas[i] = (i + 77) << 12; }
    for (size_t i = 0; i < count; i++) t.vas[i] = (rng(&seed) % pages) * 4096 + (rng(&seed) & 0xfff);
    measure(opTlb, &t);
  } else if (!strcmp(cmd, "hash")) {
    struct Hash h = {NULL, strtoull(argv[3], 0, 0), !strcmp(argv[2], "xxh3")};
    uint8_t* b = malloc(h.len + 1);
    for (size_t i = 0; i < h.len; i++) b[i] = (uint8_t)(i * 131);
    h.buf = b;
    measure(opHash, &h);
  } else {
    fprintf(stderr, "unknown command %s\n", cmd);
    return 2;
  }
  return 0;
}
