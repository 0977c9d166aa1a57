// Guest ground truth: what the guest itself says about its processes and sockets, from its own /proc, printed as
// one JSON line so the lab can compare introspection (read from outside) against it.
//   {"processes":[{"pid":1,"ppid":0,"comm":"init"},...],
//    "sockets":[{"pid":9,"proto":"tcp","family":4,"local":"10.77.0.2","lport":40000,"remote":"10.77.0.1",
//                "rport":7000,"state":1,"inode":1234},...]}
// A socket held by several processes (inherited descriptors) is listed once per holder.
#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SOCKS 4096
#define MAX_OWNERS 8192

struct sock_entry {
  unsigned long inode;
  const char* proto;
  int family;
  char local[INET6_ADDRSTRLEN];
  char remote[INET6_ADDRSTRLEN];
  unsigned lport, rport, state;
};
struct owner {
  unsigned long inode;
  int pid;
};

static struct sock_entry socks[MAX_SOCKS];
static int nsocks;
static struct owner owners[MAX_OWNERS];
static int nowners;

static void hex_addr(const char* hex, int family, char* out) {
  unsigned char bytes[16];
  int words = family == 4 ? 1 : 4;
  for (int w = 0; w < words; w++) {
    unsigned int v;
    char part[9];
    memcpy(part, hex + 8 * w, 8);
    part[8] = 0;
    v = (unsigned int)strtoul(part, NULL, 16);
    memcpy(bytes + 4 * w, &v, 4);  // /proc prints each 32-bit word in host (little-endian) order
  }
  inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes, out, INET6_ADDRSTRLEN);
}

static void read_table(const char* path, const char* proto, int family) {
  FILE* f = fopen(path, "r");
  if (!f) return;
  char line[512];
  if (!fgets(line, sizeof(line), f)) goto done;
  while (fgets(line, sizeof(line), f) && nsocks < MAX_SOCKS) {
    char local[64], remote[64];
    unsigned st;
    unsigned long inode;
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    if (sscanf(line, " %*s %63s %63s %x %*s %*s %*s %*s %*s %lu", local, remote, &st, &inode) != 4) continue;
    struct sock_entry* s = &socks[nsocks++];
    char* colon = strchr(local, ':');
    *colon = 0;
    s->lport = (unsigned)strtoul(colon + 1, NULL, 16);
    colon = strchr(remote, ':');
    *colon = 0;
    s->rport = (unsigned)strtoul(colon + 1, NULL, 16);
    hex_addr(local, family, s->local);
    hex_addr(remote, family, s->remote);
    s->proto = proto;
    s->family = family;
    s->state = st;
    s->inode = inode;
  }
done:
  fclose(f);
}

static int read_small(const char* path, char* buf, size_t len) {
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, len - 1, f);
  fclose(f);
  buf[n] = 0;
  return (int)n;
}

static void json_string(const char* s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
    else putchar(*s);
  }
  putchar('"');
}

int main(void) {
  read_table("/proc/net/tcp", "tcp", 4);
  read_table("/proc/net/tcp6", "tcp", 6);
  read_table("/proc/net/udp", "udp", 4);
  read_table("/proc/net/udp6", "udp", 6);
  DIR* proc = opendir("/proc");
  if (!proc) return 1;
  printf("{\"processes\":[");
  int first = 1;
  struct dirent* d;
  while ((d = readdir(proc))) {
    int pid = atoi(d->d_name);
    if (pid <= 0) continue;
    char path[300], comm[64], stat[1024];
    snprintf(path, sizeof(path), "/proc/%d/comm", pid);
    if (read_small(path, comm, sizeof(comm)) <= 0) continue;
    comm[strcspn(comm, "\n")] = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    int ppid = -1;
    if (read_small(path, stat, sizeof(stat)) > 0) {
      char* close_paren = strrchr(stat, ')');
      if (close_paren) sscanf(close_paren + 2, "%*c %d", &ppid);
    }
    printf("%s{\"pid\":%d,\"ppid\":%d,\"comm\":", first ? "" : ",", pid, ppid);
    json_string(comm);
    putchar('}');
    first = 0;
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR* fds = opendir(path);
    if (!fds) continue;
    struct dirent* e;
    while ((e = readdir(fds)) && nowners < MAX_OWNERS) {
      char link[300], target[128];
      snprintf(link, sizeof(link), "/proc/%d/fd/%s", pid, e->d_name);
      ssize_t n = readlink(link, target, sizeof(target) - 1);
      if (n <= 0) continue;
      target[n] = 0;
      unsigned long inode;
      if (sscanf(target, "socket:[%lu]", &inode) == 1) owners[nowners++] = (struct owner){inode, pid};
    }
    closedir(fds);
  }
  closedir(proc);
  printf("],\"sockets\":[");
  first = 1;
  for (int o = 0; o < nowners; o++) {
    for (int i = 0; i < nsocks; i++) {
      struct sock_entry* s = &socks[i];
      if (s->inode != owners[o].inode) continue;
      printf("%s{\"pid\":%d,\"proto\":\"%s\",\"family\":%d,\"local\":\"%s\",\"lport\":%u,\"remote\":\"%s\",\"rport\":%u,"
             "\"state\":%u,\"inode\":%lu}",
             first ? "" : ",", owners[o].pid, s->proto, s->family, s->local, s->lport, s->remote, s->rport, s->state,
             s->inode);
      first = 0;
    }
  }
  printf("]}\n");
  return 0;
}
