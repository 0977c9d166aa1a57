/* Injected code for the sensor's lab tests; code of this library, running inside the host program, sends a datagram
 * to ADDR,PORT from a connected UDP socket and keeps that socket open. Two builds of this one source:
 *  - beacon.so, loaded with LD_PRELOAD (real dynamic linking at start): with BEACON=ADDR,PORT in the environment its
 *    constructor installs a SIGUSR1 handler, and the datagram goes on the signal. (A signal rather than a thread:
 *    socket/connect/send are async-signal-safe, and the program stays single-threaded.)
 *  - parasite.so (-DBEACON_AT_LOAD="ADDR,PORT"), loaded into an already running program by the ptrace injector
 *    (a dlopen made to run in the target): the destination is compiled in, since the target's environment was set
 *    long before, and the datagram goes from the constructor, at load. */
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_storage target;
static socklen_t target_len;
static int family;

static void beacon(int sig) {
  (void)sig;
  int fd = socket(family, SOCK_DGRAM, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&target, target_len) == 0) (void)!send(fd, "beacon\n", 7, 0);
}

/* ADDR,PORT (numeric) → target; 0 when the text is not one. */
static int aim(const char *spec) {
  char addr[64], port[8];
  if (!spec || sscanf(spec, "%63[^,],%7s", addr, port) != 2) return 0;
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_DGRAM;
  if (getaddrinfo(addr, port, &hints, &res) != 0 || !res) return 0;
  memcpy(&target, res->ai_addr, res->ai_addrlen);
  target_len = res->ai_addrlen;
  family = res->ai_family;
  freeaddrinfo(res);
  return 1;
}

__attribute__((constructor)) static void start(void) {
#ifdef BEACON_AT_LOAD
  if (aim(BEACON_AT_LOAD)) beacon(0);
#else
  if (!aim(getenv("BEACON"))) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = beacon;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
#endif
}
