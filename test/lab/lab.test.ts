// The lab itself: a guest boots on the namespaced bridge, runs our dynamically linked programs (Debian's loader
// and libc in the initramfs), reaches the host-side peer over IPv4 and IPv6, and reports its own ground truth.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labUnavailable, startLab, type Lab } from './lab.mjs';

const why = labUnavailable();

describe.skipIf(why !== undefined)(`lab guest${why ? ` (skipped: ${why})` : ''}`, () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ memory: 'shm', kaslr: true });
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('runs dynamically linked programs and reports their connections as ground truth', async () => {
    const opened = [
      { proto: 'tcp', family: 4, p: await lab.spawn(['netprog', 'tcp-connect', lab.hostV4, String(lab.peerPort)], { as: 'tcp4client' }) },
      { proto: 'tcp', family: 6, p: await lab.spawn(['netprog', 'tcp-connect', lab.hostV6, String(lab.peerPort)]) },
      { proto: 'udp', family: 4, p: await lab.spawn(['netprog', 'udp-connect', lab.hostV4, String(lab.peerPort)]) },
      { proto: 'udp', family: 6, p: await lab.spawn(['netprog', 'udp-connect', lab.hostV6, String(lab.peerPort)]) },
    ];
    const truth = await lab.truth();
    for (const { proto, family, p } of opened) {
      const s = truth.sockets.find((x) => x.pid === p.pid && x.proto === proto && x.family === family);
      expect(s, `${proto}${family} socket of pid ${p.pid}`).toBeDefined();
      expect(s!.lport).toBe(p.localPort);
      expect(s!.rport).toBe(lab.peerPort);
      expect(s!.remote).toBe(family === 4 ? lab.hostV4 : lab.hostV6);
      if (proto === 'tcp') expect(s!.state).toBe(1); // ESTABLISHED: the host peer answered across the bridge
    }
    expect(truth.processes.find((x) => x.pid === opened[0]!.p.pid)?.comm).toBe('tcp4client');
  });

  it('sees processes killed', async () => {
    const p = await lab.spawn(['netprog', 'udp-bind', '9999', '6']);
    expect((await lab.truth()).processes.some((x) => x.pid === p.pid)).toBe(true);
    await lab.kill(p.pid);
    expect((await lab.truth()).processes.some((x) => x.pid === p.pid)).toBe(false);
  });
});
