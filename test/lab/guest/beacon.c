/* Injected code for the sensor's lab test, loaded into a guest program with LD_PRELOAD (real dynamic linking):
 * with BEACON=ADDR,PORT set, its constructor installs a SIGUSR1 handler; on the signal, code of this library running
 * inside the host program sends a datagram to ADDR:PORT from a connected UDP socket and keeps that socket open.
 * (A signal rather than a thread: socket/connect/send are async-signal-safe, and the program stays single-threaded.) */
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

static void on_signal(int sig) {
  (void)sig;
  int fd = socket(family, SOCK_DGRAM, 0);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&target, target_len) == 0) (void)!send(fd, "beacon\n", 7, 0);
}

__attribute__((constructor)) static void start(void) {
  const char *spec = getenv("BEACON");
  char addr[64], port[8];
  if (!spec || sscanf(spec, "%63[^,],%7s", addr, port) != 2) return;
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_DGRAM;
  if (getaddrinfo(addr, port, &hints, &res) != 0 || !res) return;
  memcpy(&target, res->ai_addr, res->ai_addrlen);
  target_len = res->ai_addrlen;
  family = res->ai_family;
  freeaddrinfo(res);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
}
