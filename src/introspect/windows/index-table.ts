/**
 * The snapshot index behind `lookupConnection`: connections by full TCP 4-tuple, sockets by (protocol, local
 * address, port). A TCB whose local address is 0.0.0.0 (bound to any interface) and a socket bound to 0.0.0.0
 * answer for every local address.
 */
import type { GuestConnection, GuestSocket, GuestSocketTuple } from '../types.js';

const ANY = '0.0.0.0';

export class ConnectionIndex {
  readonly #connections = new Map<string, GuestConnection>();
  readonly #sockets = new Map<string, GuestSocket>();

  addConnection(c: GuestConnection): void {
    const k = connKey(c.localAddress, c.localPort, c.remoteAddress, c.remotePort);
    // First one wins: a table walk lists live objects once; duplicates come from stale chains.
    if (!this.#connections.has(k)) this.#connections.set(k, c);
  }

  addSocket(s: GuestSocket): void {
    const k = sockKey(s.proto, s.localAddress, s.localPort);
    if (!this.#sockets.has(k)) this.#sockets.set(k, s);
  }

  lookup(t: GuestSocketTuple): GuestConnection | GuestSocket | undefined {
    if (t.proto === 'tcp') {
      const c =
        this.#connections.get(connKey(t.localAddress, t.localPort, t.remoteAddress, t.remotePort)) ??
        this.#connections.get(connKey(ANY, t.localPort, t.remoteAddress, t.remotePort));
      if (c) return c;
    }
    return this.#sockets.get(sockKey(t.proto, t.localAddress, t.localPort)) ?? this.#sockets.get(sockKey(t.proto, ANY, t.localPort));
  }
}

function connKey(la: string, lp: number, ra: string, rp: number): string {
  return `${la}:${lp}>${ra}:${rp}`;
}

function sockKey(proto: string, la: string, lp: number): string {
  return `${proto}|${la}:${lp}`;
}
