/**
 * `parasight demo`, the real command line (built package):
 *  - live on the QEMU lab guest: code injected with ptrace into a running, clean program is caught with the pid, name
 *    and executable path the guest itself reports;
 *  - offline equals live: `analyze --pcap --memory` over the tap's capture and a memory dump taken while the injected
 *    connection was open gives the same events;
 *  - Ctrl-C while the guest runs removes the guest, its RAM file and its network namespace;
 *  - without the lab (switched off with PARASIGHT_LAB=off, which labUnavailable honours; or an installed package,
 *    which has no test/lab) the demo says why and runs the offline analyzer; --live then refuses with exit 2;
 *    --offline works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SensorEvent } from '../../src/index.js';
import { labUnavailable, type Truth } from './lab.mjs';
import { Child, ensureBuilt, root } from './sensor-helpers.js';

const why = labUnavailable();
const cli = join(root, 'dist/cli/main.js');

function run(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What a demo run with this pid left behind: namespaces, RAM files, processes of its lab. */
function leftovers(pid: number): string[] {
  const tag = `${pid}-`;
  const found: string[] = [];
  for (const ns of execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n')) if (ns.startsWith(`psl-${tag}`)) found.push(`netns ${ns}`);
  for (const f of readdirSync('/dev/shm')) if (f.startsWith(`parasight-lab-${tag}`)) found.push(`/dev/shm/${f}`);
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes(`parasight-lab-${tag}`) || cmd.includes(`psl-${tag}`)) found.push(`process ${p}: ${cmd.replaceAll('\0', ' ').slice(0, 80)}`);
    } catch {
      /* exited meanwhile */
    }
  }
  return found;
}

/** The fields live and offline must agree on: all but the id, the VM name (configured vs the capture's file name) and the attribution latency. */
function comparable(e: SensorEvent): Record<string, unknown> {
  const { id: _id, vm: _vm, ts, attribution, evidence, ...rest } = e;
  return {
    ...rest,
    attribution: { outcome: attribution.outcome, reason: attribution.reason },
    evidence: evidence.map(({ first_seen: _f, ...x }) => x),
  };
}

/** Capture time of the same packet, read from two captures of the tap (the sensor's and tcpdump's): equal up to ms rounding. */
function times(events: SensorEvent[]): Array<[string, number]> {
  return events.map((e) => [JSON.stringify(comparable(e)), Date.parse(e.ts)] as [string, number]).sort((a, b) => a[0].localeCompare(b[0]));
}

const order = (a: Record<string, unknown>, b: Record<string, unknown>): number => JSON.stringify(a).localeCompare(JSON.stringify(b));

beforeAll(() => ensureBuilt());

describe('parasight demo without the lab', () => {
  it('says why live mode cannot run and runs the offline analyzer; --live exits 2; --offline works', () => {
    const off = { PARASIGHT_LAB: 'off' };
    const fallback = run(['demo', '--json'], off);
    expect(fallback.code, fallback.stderr).toBe(0);
    expect(fallback.stderr).toMatch(/live mode unavailable \(the lab is switched off \(PARASIGHT_LAB=off\)\)/);
    expect(fallback.stderr).toMatch(/offline analyzer on the bundled synthetic capture/);
    const doc = JSON.parse(fallback.stdout) as { events: SensorEvent[] };
    expect(doc.events.filter((e) => e.type === 'process.parasitized').map((e) => [e.process?.pid, e.process?.name])).toEqual([[1484, 'explorer.exe']]);

    const live = run(['demo', '--live'], off);
    expect(live.code).toBe(2);
    expect(live.stderr).toMatch(/live mode cannot run: the lab is switched off/);
    expect(live.stdout).toBe('');

    const text = run(['demo', '--offline']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).not.toMatch(/live mode/);
    expect(text.stdout).toMatch(/offline, SYNTHETIC input/);
    expect(text.stdout).toMatch(/explorer\.exe\[1484\].*41\.168\.5\.140:8080 deny/);
  }, 120_000);
});

describe('parasight demo as installed from the package (no test/lab)', () => {
  let pkg: string;
  beforeAll(() => {
    // The files `npm pack` would publish, with this checkout's dependencies and addon build beside them.
    pkg = mkdtempSync(join(tmpdir(), 'parasight-demo-pkg-'));
    const packed = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Array<{ files: Array<{ path: string }> }>;
    for (const { path } of packed[0]!.files) cpSync(join(root, path), join(pkg, path));
    symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
    symlinkSync(join(root, 'build'), join(pkg, 'build'));
  }, 60_000);
  afterAll(() => rmSync(pkg, { recursive: true, force: true }));

  it('says live mode needs a source checkout, and the offline demo runs', () => {
    const installed = (args: string[]) => spawnSync(process.execPath, [join(pkg, 'dist/cli/main.js'), ...args], { encoding: 'utf8', timeout: 120_000 });
    expect(existsSync(join(pkg, 'test/lab'))).toBe(false);
    const live = installed(['demo', '--live']);
    expect(live.status).toBe(2);
    expect(live.stderr).toMatch(/live mode cannot run: live mode needs a source checkout .* this installation has no test\/lab/);
    const fallback = installed(['demo']);
    expect(fallback.status, fallback.stderr).toBe(0);
    expect(fallback.stderr).toMatch(/live mode unavailable/);
    expect(fallback.stdout).toMatch(/explorer\.exe\[1484\].*41\.168\.5\.140:8080 deny/);
  }, 120_000);
});

describe.skipIf(why !== undefined)(`parasight demo on the QEMU lab guest${why ? ` (skipped: ${why})` : ''}`, () => {
  let keep: string;
  beforeAll(() => {
    keep = mkdtempSync(join(tmpdir(), 'parasight-demo-keep-'));
  });
  afterAll(() => rmSync(keep, { recursive: true, force: true }));

  it('--live --json: the injected program is caught with its guest pid and name; analyze over the capture and a dump gives the same events', () => {
    const r = spawnSync(process.execPath, [cli, 'demo', '--live', '--json', '--keep', keep], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(leftovers(r.pid!)).toEqual([]);
    const live = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as SensorEvent);
    const parasitized = live.filter((e) => e.type === 'process.parasitized');
    expect(parasitized).toHaveLength(1);
    const caught = parasitized[0]!;
    expect(caught).toMatchObject({ vm: 'lab', verdict: 'deny', risk: 'high', rule: 'updater#mode', flow: { proto: 'udp', remote: 'fd77::1', rport: 7000, direction: 'outbound' } });
    expect(caught.evidence.map((e) => e.kind)).toEqual(['connection', 'policy', 'process']);
    // updater is a symlink to netprog: the kernel executed, and names, the target.
    expect(caught.process!.path).toBe('/bin/netprog');

    // The guest's own view (its /proc, taken while the injected socket was open): that socket belongs to a
    // process called updater, with the pid the sensor named, which also made the allowed connection.
    const truth = JSON.parse(readFileSync(join(keep, 'guest-truth.json'), 'utf8')) as Truth;
    const owner = truth.sockets.filter((s) => s.proto === 'udp' && s.lport === caught.flow!.lport && s.rport === 7000);
    expect(owner.map((s) => s.pid)).toEqual([caught.process!.pid]);
    expect(truth.processes.find((p) => p.pid === caught.process!.pid)?.comm).toBe('updater');
    expect(caught.process!.name).toBe('updater');
    const allowed = live.filter((e) => e.process?.pid === caught.process!.pid && e.type === 'connection.allowed');
    expect(allowed.map((e) => [e.flow?.proto, e.flow?.remote, e.flow?.rport, e.rule])).toEqual([['tcp', '10.77.0.1', 7000, 'updater#0']]);

    // Offline: the tap's capture (tcpdump) and the memory dump replayed through analyze.
    for (const f of ['capture.pcap', 'memory.elf', 'policy.yaml']) expect(existsSync(join(keep, f)), f).toBe(true);
    const replayStart = Date.now();
    const a = run(['analyze', '--memory', join(keep, 'memory.elf'), '--pcap', join(keep, 'capture.pcap'), '--rules', join(keep, 'policy.yaml'), '--json']);
    expect(a.code, a.stderr).toBe(1); // denied connections in the capture
    const offline = (JSON.parse(a.stdout) as { events: SensorEvent[] }).events;
    // Equal: every event about a guest process and every deny. The recording starts after the sensor and stops
    // before it, so background traffic (IPv6 neighbour discovery, unattributed) seen live may be missing offline;
    // what the recording holds was seen live too.
    const scenario = (e: SensorEvent): boolean => e.process !== null || e.verdict === 'deny';
    expect(offline.filter(scenario).map(comparable).sort(order)).toEqual(live.filter(scenario).map(comparable).sort(order));
    expect(offline.filter(scenario).length).toBeGreaterThanOrEqual(3); // allowed + parasitized + abnormal
    const flowKey = (e: SensorEvent): string => JSON.stringify([e.flow?.proto, ...[`${e.flow?.local}`, `${e.flow?.remote}`].sort()]);
    const liveBackground = new Set(live.filter((e) => !scenario(e)).map(flowKey));
    for (const e of offline.filter((x) => !scenario(x))) expect(liveBackground.has(flowKey(e)), flowKey(e)).toBe(true);
    // Dated by the capture, not by the replay: the same times as live.
    const liveTimes = times(live.filter(scenario));
    times(offline.filter(scenario)).forEach(([key, t], i) => {
      expect(Math.abs(t - liveTimes[i]![1]), key).toBeLessThanOrEqual(1);
      expect(t).toBeLessThan(replayStart);
    });
  }, 320_000);

  it('Ctrl-C while the guest runs removes the guest, its RAM file and its network namespace', async () => {
    const child = spawn(process.execPath, [cli, 'demo', '--live'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = new Child(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await out.waitFor((l) => l.startsWith('sensor watching'), 'the sensor to start', 240_000);
    expect(leftovers(child.pid!).some((x) => x.startsWith('netns'))).toBe(true);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/SIGINT: stopping the guest/);
    expect(leftovers(child.pid!)).toEqual([]);
  }, 300_000);
});
