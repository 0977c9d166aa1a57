// Lab traffic program (runs in the guest and, as `serve`, on the host side of the lab bridge).
//   netprog tcp-connect ADDR PORT [N]  connect (N times), print "ok LPORT...", hold the connections until killed
//   netprog udp-connect ADDR PORT      connected UDP socket, send one datagram, print "ok LPORT", hold
//   netprog tcp-more ADDR PORT [HOW]   connect once, then once more on every SIGUSR1, printing "ok LPORT FD" each
//                                      time. HOW: new (default: each connection on a new descriptor), reuse (the
//                                      previous one is closed first, so the next gets the same descriptor number),
//                                      thread (connections are opened by a second thread, not the leader)
//   netprog exec-usr1 PROG ARG...      print "ok 0", then on SIGUSR1 exec PROG with ARGs (same pid, same fd table)
//   netprog tcp-listen PORT [4|6]      listen (v6 socket is dual-stack), accept and hold peers
//   netprog udp-bind PORT [4|6]        bound UDP socket, hold
//   netprog swarm N                    fork N sleepers, each holding a bound UDP socket; print "ok N" once all are
//                                      bound, hold (killing the parent ends them too)
//   netprog maps NAME [N]              map a file then unlink it, and a memfd called NAME, and N more one-page
//                                      mappings of /bin/busybox (each its own VMA); print "ok 0", hold
//   netprog serve PORT MAXCONN SECONDS host-side peer: TCP+UDP on [::]:PORT, at most MAXCONN connections held,
//                                      exits after SECONDS (bounded in count and time)
// Programs hold their sockets by sleeping so that the guest's ground truth and the introspection see the same
// state; the lab kills them to close.
#define _GNU_SOURCE  // memfd_create
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int parse_addr(const char* text, int port, struct sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof(*ss));
  struct sockaddr_in* v4 = (struct sockaddr_in*)ss;
  struct sockaddr_in6* v6 = (struct sockaddr_in6*)ss;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((unsigned short)port);
    *len = sizeof(*v4);
    return AF_INET;
  }
  if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((unsigned short)port);
    *len = sizeof(*v6);
    return AF_INET6;
  }
  return -1;
}

static int local_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(fd, (struct sockaddr*)&ss, &len) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in*)&ss)->sin_port);
  return ntohs(((struct sockaddr_in6*)&ss)->sin6_port);
}

static void hold(void) {
  for (;;) pause();
}

static int client(int type, const char* addr, int port, int count) {
  struct sockaddr_storage ss;
  socklen_t len;
  int family = parse_addr(addr, port, &ss, &len);
  if (family < 0) return fprintf(stderr, "bad address %s\n", addr), 2;
  if (count < 1 || count > 1000) return fprintf(stderr, "count must be 1..1000\n"), 2;
  char line[8192];
  int used = snprintf(line, sizeof(line), "ok");
  for (int i = 0; i < count; i++) {
    int fd = socket(family, type, 0);
    if (fd < 0 || connect(fd, (struct sockaddr*)&ss, len) != 0) return perror("connect"), 1;
    if (type == SOCK_DGRAM && send(fd, "hello\n", 6, 0) < 0) return perror("send"), 1;
    used += snprintf(line + used, sizeof(line) - (size_t)used, " %d", local_port(fd));
  }
  printf("%s\n", line);
  fflush(stdout);
  hold();
  return 0;
}

struct more_args {
  struct sockaddr_storage ss;
  socklen_t len;
  int family, reuse;
};

// Opens the connections of tcp-more, one per SIGUSR1 (blocked in every thread, taken here with sigwait).
static void* more_loop(void* arg) {
  struct more_args* m = arg;
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  int fd = -1;
  for (int opened = 0; opened < 1000; opened++) {
    if (opened > 0) {
      int sig;
      if (sigwait(&usr1, &sig) != 0) break;
    }
    if (m->reuse && fd >= 0) close(fd);
    fd = socket(m->family, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr*)&m->ss, m->len) != 0) {
      perror("connect");
      exit(1);
    }
    printf("ok %d %d\n", local_port(fd), fd);
    fflush(stdout);
  }
  return NULL;
}

// A long-running process that opens connections on command: "new connection of a known process".
static int more(const char* addr, int port, const char* how) {
  struct more_args m;
  m.family = parse_addr(addr, port, &m.ss, &m.len);
  if (m.family < 0) return fprintf(stderr, "bad address %s\n", addr), 2;
  if (strcmp(how, "new") != 0 && strcmp(how, "reuse") != 0 && strcmp(how, "thread") != 0) {
    return fprintf(stderr, "tcp-more: HOW is new, reuse or thread\n"), 2;
  }
  m.reuse = strcmp(how, "reuse") == 0;
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, NULL);
  if (strcmp(how, "thread") != 0) {
    more_loop(&m);
    hold();
  }
  pthread_t t;
  if (pthread_create(&t, NULL, more_loop, &m) != 0) return fprintf(stderr, "pthread_create failed\n"), 1;
  hold();
  return 0;
}

// Waits in the snapshot as one program, then becomes another: "a process that exec'd".
static int exec_usr1(char** argv) {
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  sigprocmask(SIG_BLOCK, &usr1, NULL);
  printf("ok 0\n");
  fflush(stdout);
  int sig;
  if (sigwait(&usr1, &sig) != 0) return 1;
  sigprocmask(SIG_UNBLOCK, &usr1, NULL);
  execv(argv[0], argv);
  perror("execv");
  return 1;
}

static int bound(int type, int port, int v6) {
  int fd = socket(v6 ? AF_INET6 : AF_INET, type, 0);
  if (fd < 0) return perror("socket"), 1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  socklen_t len;
  if (v6) {
    struct sockaddr_in6* a = (struct sockaddr_in6*)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((unsigned short)port);
    a->sin6_addr = in6addr_any;
    len = sizeof(*a);
  } else {
    struct sockaddr_in* a = (struct sockaddr_in*)&ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((unsigned short)port);
    len = sizeof(*a);
  }
  if (bind(fd, (struct sockaddr*)&ss, len) != 0) return perror("bind"), 1;
  if (type == SOCK_STREAM && listen(fd, 16) != 0) return perror("listen"), 1;
  printf("ok %d\n", local_port(fd));
  fflush(stdout);
  if (type == SOCK_DGRAM) hold();
  for (int held = 0; held < 64; held++) {
    if (accept(fd, NULL, NULL) < 0 && errno != EINTR) return perror("accept"), 1;
  }
  hold();
  return 0;
}

static int serve(int port, int maxconn, int seconds) {
  int tcp = socket(AF_INET6, SOCK_STREAM, 0);
  int udp = socket(AF_INET6, SOCK_DGRAM, 0);
  int zero = 0, one = 1;
  setsockopt(tcp, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  setsockopt(udp, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof(a));
  a.sin6_family = AF_INET6;
  a.sin6_port = htons((unsigned short)port);
  a.sin6_addr = in6addr_any;
  if (bind(tcp, (struct sockaddr*)&a, sizeof(a)) != 0 || listen(tcp, 64) != 0) return perror("tcp"), 1;
  if (bind(udp, (struct sockaddr*)&a, sizeof(a)) != 0) return perror("udp"), 1;
  printf("serving %d\n", port);
  fflush(stdout);
  time_t deadline = time(NULL) + seconds;
  int accepted = 0;
  char buf[2048];
  while (time(NULL) < deadline) {
    struct pollfd p[2] = {{tcp, POLLIN, 0}, {udp, POLLIN, 0}};
    if (poll(p, 2, 500) <= 0) continue;
    if (p[0].revents & POLLIN) {
      int c = accept(tcp, NULL, NULL);
      // Beyond the bound, connections are refused (closed at once) rather than queued forever.
      if (c >= 0 && ++accepted > maxconn) close(c);
    }
    if (p[1].revents & POLLIN) (void)recv(udp, buf, sizeof(buf), 0);
  }
  return 0;
}

// Many processes with sockets, for scale: children signal "bound" through a pipe so the parent's "ok" is the truth.
static int swarm(int n) {
  int ready[2];
  if (n < 1 || n > 20000 || pipe(ready) != 0) return fprintf(stderr, "swarm: bad count\n"), 1;
  pid_t leader = getpid();
  for (int i = 0; i < n; i++) {
    pid_t p = fork();
    if (p < 0) return perror("fork"), 1;
    if (p == 0) {
      close(ready[0]);
      int fd = socket(AF_INET, SOCK_DGRAM, 0);
      struct sockaddr_in a;
      memset(&a, 0, sizeof(a));
      a.sin_family = AF_INET;
      if (fd < 0 || bind(fd, (struct sockaddr*)&a, sizeof(a)) != 0) _exit(1);
      (void)!write(ready[1], "b", 1);
      close(ready[1]);
      // Ends with the parent: sleepers must not outlive a killed swarm.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != leader) _exit(0);
      for (;;) pause();
    }
  }
  close(ready[1]);
  int got = 0;
  char c;
  while (got < n && read(ready[0], &c, 1) == 1) got++;
  printf("ok %d\n", got);
  fflush(stdout);
  for (;;) pause();
}

// Mappings whose /proc/PID/maps names are special: a file unlinked after mmap (" (deleted)") and a memfd
// ("/memfd:NAME (deleted)"). Both stay mapped while the program sleeps.
static int maps(const char* name, int extra) {
  char path[256];
  snprintf(path, sizeof(path), "/tmp/%s.dat", name);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || ftruncate(fd, 3 * 4096) != 0) return perror("file"), 1;
  void* file = mmap(NULL, 2 * 4096, PROT_READ, MAP_PRIVATE, fd, 4096);
  if (file == MAP_FAILED || unlink(path) != 0) return perror("map file"), 1;
  close(fd);
  int mfd = memfd_create(name, 0);
  if (mfd < 0 || ftruncate(mfd, 4096) != 0) return perror("memfd"), 1;
  void* mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  if (mem == MAP_FAILED) return perror("map memfd"), 1;
  ((char*)mem)[0] = 1;
  // Same file, same offset each time: neighbouring mappings cannot merge into one VMA.
  int bin = extra > 0 ? open("/bin/busybox", O_RDONLY) : -1;
  if (extra < 0 || extra > 4096 || (extra > 0 && bin < 0)) return fprintf(stderr, "maps: bad count\n"), 1;
  for (int i = 0; i < extra; i++) {
    if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, bin, 0) == MAP_FAILED) return perror("map extra"), 1;
  }
  printf("ok 0\n");
  fflush(stdout);
  for (;;) pause();
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc >= 4 && strcmp(argv[1], "tcp-connect") == 0) return client(SOCK_STREAM, argv[2], atoi(argv[3]), argc >= 5 ? atoi(argv[4]) : 1);
  if (argc >= 4 && strcmp(argv[1], "udp-connect") == 0) return client(SOCK_DGRAM, argv[2], atoi(argv[3]), argc >= 5 ? atoi(argv[4]) : 1);
  if (argc >= 4 && strcmp(argv[1], "tcp-more") == 0) return more(argv[2], atoi(argv[3]), argc >= 5 ? argv[4] : "new");
  if (argc >= 3 && strcmp(argv[1], "exec-usr1") == 0) return exec_usr1(argv + 2);
  if (argc >= 3 && strcmp(argv[1], "tcp-listen") == 0)
    return bound(SOCK_STREAM, atoi(argv[2]), argc >= 4 && strcmp(argv[3], "6") == 0);
  if (argc >= 3 && strcmp(argv[1], "udp-bind") == 0)
    return bound(SOCK_DGRAM, atoi(argv[2]), argc >= 4 && strcmp(argv[3], "6") == 0);
  if (argc >= 3 && strcmp(argv[1], "swarm") == 0) return swarm(atoi(argv[2]));
  if (argc >= 3 && strcmp(argv[1], "maps") == 0) return maps(argv[2], argc >= 4 ? atoi(argv[3]) : 0);
  if (argc >= 5 && strcmp(argv[1], "serve") == 0) return serve(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  fprintf(stderr, "usage: netprog tcp-connect|udp-connect ADDR PORT [N] | tcp-more ADDR PORT [new|reuse|thread] | exec-usr1 PROG ARG... | tcp-listen|udp-bind PORT [4|6] | swarm N | maps NAME [N] | serve PORT MAX SECONDS\n");
  return 2;
}
