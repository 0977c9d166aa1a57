/* Reference for the sensor benchmark: libpcap reading a capture file with pcap_dispatch, touching what the sensor
 * needs (Ethernet type, IPv4/IPv6 addresses, ports). Prints one JSON line: per-packet CPU ns of each run (CPU time,
 * not wall time: on a shared machine wall time mostly measures the other tenants). */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t sink;
static uint64_t packets;

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *p) {
  (void)user;
  packets++;
  if (h->caplen < 14) return;
  unsigned type = (p[12] << 8) | p[13];
  unsigned off = 14;
  while ((type == 0x8100 || type == 0x88a8) && off + 4 <= h->caplen) {
    type = (p[off + 2] << 8) | p[off + 3];
    off += 4;
  }
  if (type == 0x0800 && off + 20 <= h->caplen) {
    unsigned ihl = (p[off] & 15) * 4;
    uint32_t src = (uint32_t)p[off + 12] << 24 | p[off + 13] << 16 | p[off + 14] << 8 | p[off + 15];
    uint32_t dst = (uint32_t)p[off + 16] << 24 | p[off + 17] << 16 | p[off + 18] << 8 | p[off + 19];
    sink += src ^ dst;
    if (off + ihl + 4 <= h->caplen) sink += (p[off + ihl] << 8 | p[off + ihl + 1]) ^ (p[off + ihl + 2] << 8 | p[off + ihl + 3]);
  } else if (type == 0x86dd && off + 44 <= h->caplen) {
    for (int i = 8; i < 40; i += 4) sink += p[off + i];
    sink += (p[off + 40] << 8 | p[off + 41]) ^ (p[off + 42] << 8 | p[off + 43]);
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: pcap-read FILE RUNS\n");
    return 2;
  }
  int runs = atoi(argv[2]);
  printf("{\"samples\":[");
  for (int r = 0; r < runs; r++) {
    char err[PCAP_ERRBUF_SIZE];
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    pcap_t *pc = pcap_open_offline(argv[1], err);
    if (!pc) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    packets = 0;
    while (pcap_dispatch(pc, 4096, on_packet, NULL) > 0) {
    }
    pcap_close(pc);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("%s%.3f", r ? "," : "", ns / (double)packets);
  }
  printf("],\"packets\":%llu,\"sink\":%llu}\n", (unsigned long long)packets, (unsigned long long)(sink & 1));
  return 0;
}
