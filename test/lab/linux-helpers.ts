// Shared by the Linux lab suites: the profile of the lab kernel (generated once, cached beside the kernel), and
// the comparison of what introspection reads from outside with what the guest itself reports.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { Profile, parseIsf, serializeIsf } from '../../src/profiles/isf.js';
import { LINUX_PROFILE_TYPES, generateLinuxProfile } from '../../src/profiles/linux/generate.js';
import { canonicalAddress } from '../../src/introspect/linux/ip.js';
import type { GuestIntrospector } from '../../src/introspect/types.js';
import type { LinuxIntrospector, LinuxLookupStats } from '../../src/introspect/linux/introspector.js';
import { labUnavailable, type Lab, type Truth } from './lab.mjs';
import { cacheDir, prepareLab, testedKernels } from './prepare.mjs';

/** Every tested lab kernel with why its guest cannot run here (undefined when it can): suites run once per kernel. */
export function labKernels(): Array<{ kernel: string; why: string | undefined }> {
  return testedKernels().map((k) => ({ kernel: k.name, why: labUnavailable(k.name) }));
}

/** The profile of a lab kernel (a KERNELS name; default the first). */
export function labProfile(kernel?: string): Profile {
  const inputs = prepareLab({ download: false, kernel });
  // Keyed by the extracted types too: a profile cached before a struct was added would lack it.
  const types = createHash('sha256').update(LINUX_PROFILE_TYPES.join(',')).digest('hex').slice(0, 12);
  const path = join(cacheDir, `profile-${inputs.version}-${types}.json`);
  if (!existsSync(path)) {
    const doc = generateLinuxProfile(readFileSync(inputs.vmlinuz), { origin: `vmlinuz-${inputs.version}` });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, serializeIsf(doc));
    renameSync(tmp, path);
  }
  return new Profile(path, parseIsf(readFileSync(path, 'utf8'), path));
}

/** The slide the guest itself reports: its /proc/kallsyms _text minus the profile's. */
export async function guestSlide(lab: Lab, profile: Profile): Promise<bigint> {
  const out = await lab.run("grep ' _text$' /proc/kallsyms");
  return BigInt(`0x${out.trim().split(/\s+/)[0]}`) - profile.requireSymbol('_text');
}

const ANY = new Set(['0.0.0.0', '::']);

function tupleKey(proto: string, la: string, lp: number, ra: string, rp: number): string {
  return `${proto} ${canonicalAddress(la)}:${lp} ${ANY.has(ra) && rp === 0 ? '*' : `${canonicalAddress(ra)}:${rp}`}`;
}

/**
 * Every TCP/UDP socket the guest reports is found by introspection with the same owner (pid and comm), every
 * socket introspection reports exists in the guest, and lookupConnection names the same owner for each.
 */
export function expectSameAsGuest(intro: GuestIntrospector, truth: Truth): void {
  const comm = new Map(truth.processes.map((p) => [p.pid, p.comm]));
  const holders = new Map<string, Set<number>>();
  for (const s of truth.sockets) {
    const k = tupleKey(s.proto, s.local, s.lport, s.remote, s.rport);
    if (!holders.has(k)) holders.set(k, new Set());
    holders.get(k)!.add(s.pid);
  }
  const ours = new Map<string, number>();
  for (const c of intro.connections().items) ours.set(tupleKey(c.proto, c.localAddress, c.localPort, c.remoteAddress, c.remotePort), c.pid);
  for (const s of intro.sockets().items) ours.set(tupleKey(s.proto, s.localAddress, s.localPort, '::', 0), s.pid);
  expect([...ours.keys()].sort()).toEqual([...holders.keys()].sort());
  for (const [k, pid] of ours) expect(holders.get(k)?.has(pid), `${k} owned by pid ${pid}`).toBe(true);
  const byPid = new Map(intro.processes().items.map((p) => [p.pid, p]));
  for (const s of truth.sockets) {
    const remote = s.rport === 0 ? (s.family === 4 ? '10.77.0.1' : 'fd77::1') : s.remote;
    const owner = intro.lookupConnection({
      proto: s.proto,
      family: s.family,
      localAddress: ANY.has(s.local) ? (s.family === 4 ? '10.77.0.2' : 'fd77::2') : s.local,
      localPort: s.lport,
      remoteAddress: remote,
      remotePort: s.rport === 0 ? 40000 : s.rport,
    });
    const what = `${s.proto}${s.family} ${s.local}:${s.lport} → ${s.remote}:${s.rport}`;
    expect(owner, what).toBeDefined();
    expect(holders.get(tupleKey(s.proto, s.local, s.lport, s.remote, s.rport))!.has(owner!.pid), `${what}: pid ${owner!.pid}`).toBe(true);
    expect(byPid.get(owner!.pid)?.name ?? owner!.process?.name, `${what}: comm`).toBe(comm.get(owner!.pid));
  }
}

/** Opens one connection of each kind to the host peer, each from a program with its own name. */
export async function openMix(lab: Lab, tag: string): Promise<void> {
  const port = String(lab.peerPort);
  await lab.spawn(['netprog', 'tcp-connect', lab.hostV4, port], { as: `${tag}t4` });
  await lab.spawn(['netprog', 'tcp-connect', lab.hostV6, port], { as: `${tag}t6` });
  await lab.spawn(['netprog', 'udp-connect', lab.hostV4, port], { as: `${tag}u4` });
  await lab.spawn(['netprog', 'udp-connect', lab.hostV6, port], { as: `${tag}u6` });
  await lab.spawn(['netprog', 'tcp-listen', '8080', '6'], { as: `${tag}l6` });
  await lab.spawn(['netprog', 'udp-bind', '5353', '4'], { as: `${tag}b4` });
  // A connection inside the guest (loopback): both ends are guest sockets.
  await lab.spawn(['netprog', 'tcp-connect', '::1', '8080'], { as: `${tag}lo` });
}

/**
 * One lookup of a TCP v4 connection from the guest's `port` to the host peer, opened after the last sweep: its
 * owner, and the lookup stage that answered (the counter of lookupStats() that moved).
 */
export function attributeNew(intro: LinuxIntrospector, lab: Lab, port: number): { pid?: number; name?: string; stage: keyof LinuxLookupStats | undefined } {
  const before = intro.lookupStats();
  const owner = intro.lookupConnection({
    proto: 'tcp', family: 4, localAddress: lab.guestV4, localPort: port, remoteAddress: lab.hostV4, remotePort: lab.peerPort,
  });
  const after = intro.lookupStats();
  const stage = (Object.keys(after) as Array<keyof LinuxLookupStats>).find((k) => after[k] !== before[k]);
  expect(owner?.answeredFrom).toBe('refresh');
  return { pid: owner?.pid, name: owner?.process?.name, stage };
}

/** Asks a `netprog tcp-more` program for one more connection (SIGUSR1); its "ok LPORT FD" line, the `lines`-th. */
export async function askForMore(lab: Lab, p: { pid: number; outputPath: string }, lines: number): Promise<{ port: number; fd: number }> {
  const out = await lab.run(
    `kill -USR1 ${p.pid}; i=0; while [ $(grep -c ok ${p.outputPath}) -lt ${lines} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; tail -n1 ${p.outputPath}`,
  );
  const m = /^ok (\d+) (\d+)/.exec(out.trim());
  expect(m, out).not.toBeNull();
  return { port: Number(m![1]), fd: Number(m![2]) };
}
