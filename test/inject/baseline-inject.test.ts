/**
 * The baseline detector against real injection into real processes: LD_PRELOAD, dlopen at run time, a fileless
 * memfd load, ptrace injection (remote mmap of an RWX page + remote dlopen), a library replaced on disk, a library
 * deleted after load, a library that is gone at the next start, and (with code pages checked) a code page patched
 * through /proc/PID/mem and restored. The baseline is always recorded on a clean
 * process; each check must name the right file and risk, and clean runs must give no finding.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, openSync, readFileSync, readSync, renameSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BaselineDetector } from '../../src/baseline/detector.js';
import { BaselineStore } from '../../src/baseline/store.js';
import { watch } from '../../src/baseline/watch.js';
import type { Finding } from '../../src/baseline/types.js';
import { baseline as baselineCommand } from '../../src/cli/commands/baseline.js';
import { buildFixtures, buildVictim, ptraceInject, Victim, type Built } from './victims.js';
import { Ajv } from 'ajv';
import type { BaselineEvent } from '../../src/baseline/events.js';

const eventSchema = JSON.parse(readFileSync(new URL('../../schema/event.schema.json', import.meta.url), 'utf8')) as object;
// No ajv-formats here: "date-time" is not checked (ts comes from Date.toISOString()).
const validate = new Ajv({ allErrors: true, strict: false, logger: false }).compile(eventSchema);

/** Every event must pass the shared event schema (the one the VM sensor's events pass too). */
function schemaErrors(events: BaselineEvent[]): unknown[] {
  return events.flatMap((e) => (validate(JSON.parse(JSON.stringify(e))) ? [] : [{ type: e.type, errors: validate.errors }]));
}

function whyNot(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'needs Linux on x86-64 (/proc maps, the ptrace injector)';
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'needs gcc to build the victim programs';
  }
  const scope = (() => {
    try {
      return Number(readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8'));
    } catch {
      return 0;
    }
  })();
  if (process.getuid?.() !== 0 && scope > 0) return 'needs root (or ptrace_scope 0) to read maps and ptrace the victim';
  return undefined;
}
const skipReason = whyNot();

const sha256 = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const kinds = (fs: Finding[]) => fs.map((f) => `${f.kind}:${f.risk}:${f.path}`).sort();

describe.skipIf(skipReason !== undefined)(`baseline detector vs real injection${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let b: Built;
  let store: BaselineStore;
  let det: BaselineDetector;
  const running: Victim[] = [];

  async function start(exe: string, env: Record<string, string> = {}, args: string[] = []): Promise<Victim> {
    const v = new Victim(exe, env, args);
    running.push(v);
    return v.ready();
  }

  function check(v: Victim) {
    const r = det.check({ pid: v.pid });
    expect(r).toHaveLength(1);
    expect(schemaErrors(r[0]!.events)).toEqual([]);
    return r[0]!;
  }

  beforeAll(async () => {
    b = buildFixtures();
    store = new BaselineStore(join(b.dir, 'baselines.db'));
    det = await BaselineDetector.create({ store });
    const v1 = await start(b.victim);
    expect(det.record({ pid: v1.pid })[0]!.stored.revision).toBe(1);
    const v2 = await start(b.victim2, { PLUGIN: b.plugin });
    det.record({ pid: v2.pid });
    await Promise.all(running.splice(0).map((v) => v.stop()));
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((v) => v.stop()));
  });

  afterAll(async () => {
    // Also when beforeAll failed half-way: no victim may outlive the suite.
    await Promise.all(running.splice(0).map((v) => v.stop()));
    store?.close();
    if (b) rmSync(b.dir, { recursive: true, force: true });
  });

  it('records the executable\'s build-id as the app version and the files it maps', () => {
    const [row] = store.list(b.victim);
    const buildId = /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', b.victim], { encoding: 'utf8' }))![1];
    expect(row!.appVersion).toBe(`build-id:${buildId}`);
    const rec = store.current(row!)!.record;
    expect(rec.feature.paths).toContain(b.victim);
    expect(rec.feature.paths).toContain(b.libvictim);
    expect(rec.files.find((f) => f.path === b.libvictim)).toMatchObject({ code: true, why: 'exec-mapping' });
  });

  it('finds nothing across clean restarts (ASLR moves the addresses, the files stay)', async () => {
    const bases = new Set<bigint>();
    for (let i = 0; i < 5; i++) {
      const v = await start(b.victim);
      const r = check(v);
      expect(kinds(r.comparison.findings)).toEqual([]);
      expect(r.comparison.samePaths).toBe(true);
      expect(r.events.map((e) => `${e.type}:${e.verdict}`)).toEqual(['baseline.checked:clean']);
      bases.add(r.snapshot.processes[0]!.entries.find((e) => e.path === b.libvictim)!.start);
      await v.stop();
    }
    expect(bases.size).toBeGreaterThan(1);
  });

  it('learns a JIT runtime\'s normal anonymous code: restarted node processes give no finding', async () => {
    // Compiles functions all the time, so V8's executable code space is in use when the maps are read.
    const script = 'setInterval(() => new Function("x", "return x * " + Math.random())(2), 2); setTimeout(() => console.log("ready"), 300);';
    const s2 = new BaselineStore(join(b.dir, 'node.db'));
    try {
      const d = await BaselineDetector.create({ store: s2 });
      const first = await start(process.execPath, {}, ['-e', script]);
      const [rec] = d.record({ pid: first.pid });
      await first.stop();
      for (let i = 0; i < 3; i++) {
        const v = await start(process.execPath, {}, ['-e', script]);
        const r = d.check({ pid: v.pid })[0]!;
        expect(r.comparison.baseline?.feature.featureHash).toBe(rec!.stored.record.feature.featureHash);
        expect(kinds(r.comparison.findings)).toEqual([]);
        await v.stop();
      }
    } finally {
      s2.close();
    }
  });

  it('catches an LD_PRELOAD library as extra high-risk code, with its SHA-256 in the evidence', async () => {
    const v = await start(b.victim, { LD_PRELOAD: b.payload });
    const r = check(v);
    expect(kinds(r.comparison.findings)).toEqual([`extra:high:${b.payload}`]);
    const f = r.comparison.findings[0]!;
    expect(f).toMatchObject({ code: true, why: 'exec-mapping', pids: [v.pid], sha256: sha256(b.payload) });
    const ev = r.events.find((e) => e.type === 'baseline.finding')!;
    expect(ev).toMatchObject({ vm: null, verdict: 'parasitized', risk: 'high', rule: 'baseline.extra', process: { pid: v.pid, ppid: process.pid, name: 'victim', path: b.victim } });
    // Start time from /proc/PID/stat, converted to ms since the epoch: the victim started during this test.
    expect(ev.process!.create_time).toBeGreaterThan(Date.now() - 60_000);
    expect(ev.process!.create_time).toBeLessThanOrEqual(Date.now() + 1000);
    expect(ev.evidence[0]).toMatchObject({ path: b.payload, sha256: sha256(b.payload) });
  });

  it('catches a library dlopened into a running process (clean before, extra after)', async () => {
    const v = await start(b.victim, { LATE_LIB: b.payload });
    expect(check(v).comparison.findings).toEqual([]);
    v.child.kill('SIGUSR1');
    await v.waitFor(/^done late/);
    expect(kinds(check(v).comparison.findings)).toEqual([`extra:high:${b.payload}`]);
  });

  it('catches a fileless load from memfd_create as high risk, hashing the memfd content', async () => {
    const v = await start(b.victim, { MEMFD_LIB: b.payload });
    v.child.kill('SIGUSR2');
    await v.waitFor(/^done memfd/);
    const r = check(v);
    expect(kinds(r.comparison.findings)).toEqual(['memfd:high:memfd:payload']);
    expect(r.comparison.findings[0]!.sha256).toBe(sha256(b.payload));
  });

  it('catches ptrace injection: the injected RWX page and the library the victim was made to dlopen', async () => {
    const v = await start(b.victim);
    expect(check(v).comparison.findings).toEqual([]);
    const out = ptraceInject(b, v.pid, b.payload);
    const rwx = BigInt(/rwx=(0x[0-9a-f]+)/.exec(out)![1]!);
    const r = check(v);
    expect(kinds(r.comparison.findings)).toEqual(['anon-exec:high:', `extra:high:${b.payload}`]);
    const anon = r.comparison.findings.find((f) => f.kind === 'anon-exec')!;
    expect(anon.ranges).toContainEqual({ pid: v.pid, start: rwx, end: rwx + 4096n, perms: 'rwx' });
    // The victim survived the injection and still answers.
    v.child.kill('SIGUSR1');
    await v.waitFor(/^fail|^done/);
  });

  it('with code pages checked: finds a code page patched through /proc/PID/mem, even with its bytes restored', async () => {
    const s2 = new BaselineStore(join(b.dir, 'code-pages.db'));
    try {
      const d = await BaselineDetector.create({ store: s2, codePages: true });
      const v = await start(b.victim);
      d.record({ pid: v.pid });
      const before = d.check({ pid: v.pid })[0]!;
      expect(kinds(before.comparison.findings)).toEqual([]);
      expect(before.snapshot.processes[0]!.modifiedCode).toEqual([]);
      // Rewrite 16 bytes of libvictim's text with what is already there: the content stays the same, but the kernel
      // gives the process a private copy of the page (how a debugger's breakpoint or an injector's hook lands).
      const text = before.snapshot.processes[0]!.entries.find((e) => e.path === b.libvictim && e.perms === 'r-x')!;
      const at = text.start + 0x10n;
      const mem = openSync(`/proc/${v.pid}/mem`, 'r+');
      try {
        const bytes = Buffer.alloc(16);
        expect(readSync(mem, bytes, 0, 16, Number(at))).toBe(16);
        expect(writeSync(mem, bytes, 0, 16, Number(at))).toBe(16);
      } finally {
        closeSync(mem);
      }
      const r = d.check({ pid: v.pid })[0]!;
      expect(schemaErrors(r.events)).toEqual([]);
      expect(kinds(r.comparison.findings)).toEqual([`code-modified:high:${b.libvictim}`]);
      expect(r.comparison.findings[0]).toMatchObject({ pids: [v.pid], ranges: [{ pid: v.pid, start: text.start, end: text.end, perms: 'r-x' }] });
      expect(r.snapshot.processes[0]!.modifiedCode).toEqual([
        { path: b.libvictim, start: text.start, end: text.end, perms: 'r-x', pages: 1, first: at & ~0xfffn },
      ]);
      expect(r.events.find((e) => e.type !== 'baseline.checked')?.evidence[0]).toMatchObject({ kind: 'memory', finding: 'code-modified', path: b.libvictim });
      // Without code pages the same process looks clean: paths, files and content are all as recorded.
      expect(kinds(check(v).comparison.findings)).toEqual([]);
      // The CLI flag does the same: exit 1 with the finding as an NDJSON event.
      const out: string[] = [];
      const spy = vi.spyOn(process.stdout, 'write').mockImplementation((x: string | Uint8Array) => (out.push(String(x)), true));
      try {
        expect(await baselineCommand.run(['check', '--pid', String(v.pid), '--db', join(b.dir, 'code-pages.db'), '--code-pages', '--json'])).toBe(1);
        expect(await baselineCommand.run(['check', '--pid', String(v.pid), '--db', join(b.dir, 'code-pages.db'), '--json'])).toBe(0);
      } finally {
        spy.mockRestore();
      }
      const events = out.join('').trim().split('\n').map((l) => JSON.parse(l) as BaselineEvent);
      expect(events.filter((e) => e.type === 'baseline.finding').map((e) => e.evidence[0]!.finding)).toEqual(['code-modified']);
      // The victim still runs its (patched) code.
      v.child.kill('SIGUSR1');
      await v.waitFor(/^fail|^done/);
    } finally {
      s2.close();
    }
  });

  it('catches a library replaced on disk (same path, other content) after a restart', async () => {
    const tmp = `${b.libvictim}.new`;
    copyFileSync(b.libvictimTampered, tmp);
    renameSync(tmp, b.libvictim);
    try {
      const v = await start(b.victim);
      expect(await v.waitFor(/^ready/)).toBe('ready 2');
      const r = check(v);
      expect(r.comparison.samePaths).toBe(true);
      expect(kinds(r.comparison.findings)).toEqual([`tampered:high:${b.libvictim}`]);
      expect(r.comparison.findings[0]!.hashFrom).toBe('baseline');
    } finally {
      copyFileSync(b.libvictimClean, tmp);
      renameSync(tmp, b.libvictim);
    }
    const clean = await start(b.victim);
    expect(check(clean).comparison.findings).toEqual([]);
  });

  it('catches a library deleted after it was loaded', async () => {
    const v = await start(b.victim2, { PLUGIN: b.plugin });
    expect(check(v).comparison.findings).toEqual([]);
    const keep = `${b.plugin}.keep`;
    copyFileSync(b.plugin, keep);
    unlinkSync(b.plugin);
    try {
      const r = check(v);
      expect(kinds(r.comparison.findings)).toEqual([`deleted:high:${b.plugin}`]);
      expect(r.comparison.findings[0]!.sha256).toBe(sha256(keep));
    } finally {
      renameSync(keep, b.plugin);
    }
  });

  it('reports a baseline library that is gone at the next start as missing code', async () => {
    const away = `${b.plugin}.away`;
    renameSync(b.plugin, away);
    try {
      const v = await start(b.victim2, { PLUGIN: b.plugin });
      expect(kinds(check(v).comparison.findings)).toEqual([`missing:high:${b.plugin}`]);
    } finally {
      renameSync(away, b.plugin);
    }
  });

  it('says so when the executable changed under a known app (new build-id, no baseline for it)', async () => {
    const exe = join(b.dir, 'victim3');
    buildVictim(b.dir, exe);
    const v = await start(exe);
    det.record({ pid: v.pid });
    await v.stop();
    buildVictim(b.dir, exe, ['-O2']);
    const v2 = await start(exe);
    const r = det.check({ pid: v2.pid })[0]!;
    expect(r.comparison.baseline).toBeUndefined();
    expect(r.events.map((e) => [e.type, e.verdict, e.risk])).toEqual([['baseline.unknown', 'unknown', 'low']]);
    expect(r.events[0]!.reason).toMatch(/a baseline exists for version build-id:[0-9a-f]+.*executable was replaced/);
  });

  it('records an unknown app on first use only when asked, and reports that as an event', async () => {
    const s2 = new BaselineStore(join(b.dir, 'tofu.db'));
    try {
      const v = await start(b.victim);
      const plain = (await BaselineDetector.create({ store: s2 })).check({ pid: v.pid })[0]!;
      expect(plain.comparison.baseline).toBeUndefined();
      expect(plain.events.map((e) => e.type)).toEqual(['baseline.unknown']);
      const tofu = await BaselineDetector.create({ store: s2, trustOnFirstUse: true });
      const first = tofu.check({ pid: v.pid })[0]!;
      expect(first.recorded?.revision).toBe(1);
      expect(first.events.map((e) => `${e.type}:${e.rule}`)).toEqual(['baseline.recorded:tofu']);
      expect(schemaErrors([...plain.events, ...first.events])).toEqual([]);
      expect(tofu.check({ pid: v.pid })[0]!.comparison.findings).toEqual([]);
    } finally {
      s2.close();
    }
  });

  it('watch: reports an injection into a running process once, without re-reading unchanged files', async () => {
    const v = await start(b.victim, { LATE_LIB: b.payload });
    const wdet = await BaselineDetector.create({ store });
    const events: BaselineEvent[] = [];
    let round = 0;
    const waiters: [number, () => void][] = [];
    const roundsFrom = (n: number) => new Promise<void>((r) => waiters.push([round + n, r]));
    const stop = new AbortController();
    const done = watch(wdet, { exe: b.victim }, {
      intervalMs: 10,
      signal: stop.signal,
      onEvent: (e) => events.push(e),
      onRound: (n) => {
        round = n;
        for (const [at, r] of waiters) if (n >= at) r();
      },
    });
    await roundsFrom(2);
    expect(events.map((e) => `${e.type}:${e.verdict}`)).toEqual(['baseline.checked:clean']);
    const misses = wdet.hashCache.misses;
    const hits = wdet.hashCache.hits;
    v.child.kill('SIGUSR1');
    await v.waitFor(/^done late/);
    await roundsFrom(4);
    stop.abort();
    const summary = await done;
    const findings = events.filter((e) => e.type === 'baseline.finding');
    expect(findings.map((e) => [e.risk, e.evidence[0]!.path])).toEqual([['high', b.payload]]);
    expect(events.filter((e) => e.type === 'baseline.checked').map((e) => e.verdict)).toEqual(['clean', 'parasitized']);
    expect(summary.risk).toBe('high');
    // Later rounds found every baseline file unchanged by identity: cache hits, no new reads.
    expect(wdet.hashCache.misses).toBe(misses);
    expect(wdet.hashCache.hits).toBeGreaterThan(hits);
    expect(schemaErrors(events)).toEqual([]);
  });

  it('CLI: exit 0 on a clean check, 1 with NDJSON finding events after injection', async () => {
    const db = join(b.dir, 'cli.db');
    const out: string[] = [];
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => (out.push(String(s)), true));
    try {
      const v = await start(b.victim, { LATE_LIB: b.payload });
      expect(await baselineCommand.run(['record', '--pid', String(v.pid), '--db', db])).toBe(0);
      expect(await baselineCommand.run(['check', '--exe', b.victim, '--db', db])).toBe(0);
      v.child.kill('SIGUSR1');
      await v.waitFor(/^done late/);
      out.length = 0;
      const qdir = join(b.dir, 'quarantine');
      expect(await baselineCommand.run(['check', '--exe', b.victim, '--db', db, '--json', '--quarantine', qdir])).toBe(1);
      expect(readFileSync(join(qdir, `${sha256(b.payload)}.bin`)).equals(readFileSync(b.payload))).toBe(true);
      const events = out.join('').trim().split('\n').map((l) => JSON.parse(l) as { type: string; risk: string; evidence: { path: string }[] });
      expect(events.filter((e) => e.type === 'baseline.finding').map((e) => [e.risk, e.evidence[0]!.path])).toEqual([['high', b.payload]]);
      out.length = 0;
      expect(await baselineCommand.run(['diff', '--pid', String(v.pid), '--db', db, '--json'])).toBe(1);
      const [d] = JSON.parse(out.join('')) as { added: string[]; removed: string[]; same_paths: boolean }[];
      expect(d).toMatchObject({ added: [b.payload], removed: [], same_paths: false });
      // export → import into another database → list shows the same baseline.
      const file = join(b.dir, 'export.json');
      const db2 = join(b.dir, 'cli2.db');
      expect(await baselineCommand.run(['export', '--db', db, '--out', file])).toBe(0);
      expect(await baselineCommand.run(['import', '--db', db2, '--in', file])).toBe(0);
      out.length = 0;
      expect(await baselineCommand.run(['list', '--db', db2, '--json'])).toBe(0);
      const rows = JSON.parse(out.join('')) as { app: string; source: string }[];
      expect(rows.map((r) => [r.app, r.source])).toEqual([[b.victim, 'import']]);
      // Usage errors are thrown for the CLI's main to print with the usage text (exit 2).
      await expect(baselineCommand.run(['check', '--db', db])).rejects.toThrow(/give the target/);
    } finally {
      spy.mockRestore();
      errSpy.mockRestore();
    }
  });
});
