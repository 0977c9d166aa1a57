/**
 * `parasight baseline`: record, check and manage module-map baselines of applications on this host.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BaselineDetector, type CheckResult } from '../../baseline/detector.js';
import { eventLine, findingEvidence } from '../../baseline/events.js';
import { Quarantine } from '../../baseline/quarantine.js';
import { watch } from '../../baseline/watch.js';
import { GuestMapSource } from '../../baseline/guest.js';
import type { MapSource } from '../../baseline/source.js';
import { openIntrospector } from '../../introspect/open.js';
import { openMemory } from '../../memory/open.js';
import { parseMemorySpec } from '../../memory/spec.js';
import { BaselineStore, defaultDbPath } from '../../baseline/store.js';
import type { TargetSpec } from '../../baseline/source.js';
import type { BaselinePolicy } from '../../baseline/types.js';
import { EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, UsageError, type Command } from '../command.js';

const usage = `usage: parasight baseline <action> [options]

actions:
  record   record the current memory maps of the target as its normal value (a new revision)
  check    compare the target with its stored normal value; events for every finding; exit 1 on high risk
  watch    check the target every --interval seconds until interrupted (new processes at once; a finding is
           reported once; unchanged files are not hashed again); exit 1 if a high-risk finding was seen
  diff     like check, but print the path-list difference (+ extra, - missing, ~ tampered, ! other)
  list     list stored baselines (optionally --name/--exe to filter by application)
  export   write all stored baselines as JSON (stdout, or --out FILE)
  import   read baselines exported before (--in FILE, or stdin with "-")

guest mode (record, check, watch, diff): look at a VM's processes from outside instead of this host's
  --memory SPEC    guest memory, as for "parasight analyze" (image path, qemu:PID, live:PATH, ...)
  --profile FILE   profile for the guest kernel (Linux guests; Windows XP/2003 is built in)
  --vm NAME        VM name for events (default: the memory spec)
  --device-model M device model of the guest for the baseline key (default "virtual machine")

target (record, check, watch, diff; exactly one):
  --pid PID        that process only
  --exe PATH       every process running this executable
  --name NAME      every process whose name or executable basename is NAME

options:
  --app-version V  use V as the app version instead of the package version / ELF build-id
  --db FILE        baseline database (default: $PARASIGHT_DB, else $XDG_DATA_HOME/parasight/baselines.db,
                   else ~/.local/share/parasight/baselines.db)
  --json           NDJSON events (check, record), JSON documents (diff, list, export)
  --no-hash        do not hash mapped files (record: store no content hashes; check: skip tamper checks)
  --code-pages     record, check, watch, diff: also find written code pages (executable file pages that are private
                   copies: ptrace or /proc/PID/mem patching, even when the bytes were restored; debugger
                   breakpoints and uprobes show the same way). Host only; costs ~0.4 µs per resident code page
  --merge          record: fold this run into the stored baseline instead of replacing it (files seen in only
                   some clean runs become optional: not reported when absent)
  --anon-exec X    record: anonymous executable mappings allowed per process: "baseline" (default, the most
                   this clean run shows), a number, or "any"
  --tofu           check, watch: record an unknown (app, version, OS, device) as its baseline (trust on first use)
  --preset FILE    check: JSON object {path: "algo:hex"} of known-good content hashes
  --quarantine DIR check, watch: copy files of medium/high-risk findings here (named by SHA-256, evidence beside)
  --collector URL  check, watch: POST those files with their evidence to this https:// URL (token from the
                   PARASIGHT_COLLECTOR_TOKEN environment variable; retried with back-off)
  --collector-ca FILE  check, watch: PEM CA certificate to trust for the collector
  --max-upload N   check, watch: size cap in bytes for quarantined/uploaded files (default 67108864)
  --interval S     watch: seconds between rounds (default 5)
  --count N        watch: stop after N rounds (default: until SIGINT/SIGTERM)
  --out FILE       export: write here instead of stdout
  --in FILE        import: read from here ("-" = stdin)

exit codes: 0 clean / done, 1 high-risk finding, 2 usage error, no such process, or no baseline stored (check)`;

const options = {
  pid: { type: 'string' },
  exe: { type: 'string' },
  name: { type: 'string' },
  'app-version': { type: 'string' },
  db: { type: 'string' },
  json: { type: 'boolean' },
  'no-hash': { type: 'boolean' },
  'code-pages': { type: 'boolean' },
  'anon-exec': { type: 'string' },
  merge: { type: 'boolean' },
  tofu: { type: 'boolean' },
  preset: { type: 'string' },
  quarantine: { type: 'string' },
  collector: { type: 'string' },
  'collector-ca': { type: 'string' },
  'max-upload': { type: 'string' },
  out: { type: 'string' },
  in: { type: 'string' },
  interval: { type: 'string' },
  count: { type: 'string' },
  memory: { type: 'string' },
  profile: { type: 'string' },
  vm: { type: 'string' },
  'device-model': { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

function targetOf(v: Values, required: boolean): TargetSpec | undefined {
  const given = [v.pid, v.exe, v.name].filter((x) => x !== undefined).length;
  if (given > 1) throw new UsageError('give only one of --pid, --exe, --name');
  if (given === 0) {
    if (required) throw new UsageError('give the target: --pid PID, --exe PATH or --name NAME');
    return undefined;
  }
  if (v.pid !== undefined) {
    if (!/^[1-9]\d*$/.test(v.pid)) throw new UsageError(`--pid wants a process id, not "${v.pid}"`);
    return { pid: Number(v.pid) };
  }
  return v.exe !== undefined ? { exe: v.exe } : { name: v.name! };
}

function anonExecPolicy(x: string | undefined): Partial<BaselinePolicy> {
  if (x === undefined) return {};
  if (x === 'baseline' || x === 'any') return { anonExec: x };
  if (/^\d+$/.test(x)) return { anonExec: Number(x) };
  throw new UsageError(`--anon-exec wants "baseline", "any" or a number, not "${x}"`);
}

function readPreset(file: string | undefined): Map<string, string> | undefined {
  if (file === undefined) return undefined;
  const doc = JSON.parse(readFileSync(file, 'utf8')) as unknown;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UsageError(`${file}: not a JSON object of path → hash`);
  return new Map(Object.entries(doc as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

const out = (s: string) => process.stdout.write(s);

function printCheck(r: CheckResult, asDiff: boolean): void {
  const s = r.snapshot;
  const c = r.comparison;
  out(`${s.app} (${s.appVersion.version}; ${s.processes.length} process(es)): `);
  if (r.recorded) return void out(`no baseline: recorded this state as revision ${r.recorded.revision} (trust on first use)\n`);
  if (!c.baseline) return void out('no baseline stored for this app version, OS and device\n');
  out(c.findings.length === 0 ? 'matches the baseline\n' : `${c.findings.length} finding(s), risk ${c.risk}\n`);
  const mark = { extra: '+', missing: '-', tampered: '~' } as Record<string, string>;
  for (const f of c.findings) {
    const lead = asDiff ? (mark[f.kind] ?? '!') : f.risk.toUpperCase().padEnd(6);
    out(`  ${lead} ${f.kind.padEnd(10)} ${f.path || '(anonymous)'}${f.pids.length ? ` [pid ${f.pids.join(',')}]` : ''}\n`);
    if (!asDiff) out(`           ${f.reason}${f.sha256 ? ` (sha256 ${f.sha256})` : ''}\n`);
  }
}

/** Guest mode: an introspector over the given memory, or undefined for this host. */
async function guestSource(v: Values): Promise<{ source: MapSource; close(): void } | undefined> {
  if (v.memory === undefined) {
    if (v.profile || v.vm || v['device-model']) throw new UsageError('--profile, --vm and --device-model go with --memory');
    return undefined;
  }
  const mem = await openMemory(parseMemorySpec(v.memory));
  try {
    const g = openIntrospector(mem, v.profile !== undefined ? { profile: v.profile } : {});
    const source = new GuestMapSource(g, { vm: v.vm ?? v.memory, ...(v['device-model'] ? { deviceModel: v['device-model'] } : {}) });
    return {
      source,
      close: () => {
        g.close();
        mem.close();
      },
    };
  } catch (e) {
    mem.close();
    throw e;
  }
}

async function runChecks(action: 'check' | 'diff', v: Values, store: BaselineStore, source: MapSource | undefined): Promise<number> {
  const target = targetOf(v, true)!;
  const preset = readPreset(v.preset);
  const quarantine = quarantineOf(v);
  const det = await BaselineDetector.create({
    store,
    ...(source ? { source } : {}),
    hashFiles: !v['no-hash'],
    codePages: v['code-pages'] === true,
    trustOnFirstUse: v.tofu === true,
    ...(preset ? { preset } : {}),
    ...(quarantine ? { onSuspicious: (f, s, p) => quarantine.submit(f, s, p) } : {}),
  });
  const results = det.check(target, v['app-version'] ? { appVersion: v['app-version'] } : {});
  const code = report(action, v, results);
  // Detection output is out; now wait for the side channel so the process does not exit under it.
  if (quarantine) {
    for (const o of await quarantine.drain()) {
      process.stderr.write(`quarantine: ${o.path}: ${o.copy ? `copied to ${o.copy}; ` : ''}upload ${o.upload}` +
        `${o.attempts ? ` after ${o.attempts} attempt(s)` : ''}${o.error ? ` (${o.error})` : ''}\n`);
    }
  }
  return code;
}

async function runWatch(v: Values, store: BaselineStore, source: MapSource | undefined): Promise<number> {
  const target = targetOf(v, true)!;
  const interval = v.interval === undefined ? 5 : Number(v.interval);
  if (!(interval > 0)) throw new UsageError('--interval wants a positive number of seconds');
  if (v.count !== undefined && !/^[1-9]\d*$/.test(v.count)) throw new UsageError('--count wants a positive integer');
  const quarantine = quarantineOf(v);
  const det = await BaselineDetector.create({
    store,
    ...(source ? { source } : {}),
    hashFiles: !v['no-hash'],
    codePages: v['code-pages'] === true,
    trustOnFirstUse: v.tofu === true,
    ...(quarantine ? { onSuspicious: (f, s, p) => quarantine.submit(f, s, p) } : {}),
  });
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const r = await watch(det, target, {
      intervalMs: interval * 1000,
      signal: stop.signal,
      ...(v.count !== undefined ? { rounds: Number(v.count) } : {}),
      ...(v['app-version'] ? { appVersion: v['app-version'] } : {}),
      onEvent: (e) => out(v.json ? eventLine(e) : `${e.ts} ${e.type} ${e.risk} ${e.process ? `pid ${e.process.pid} ` : ''}${e.reason}\n`),
    });
    if (quarantine) await quarantine.drain();
    return r.risk === 'high' ? EXIT_FINDINGS : EXIT_OK;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function quarantineOf(v: Values): Quarantine | undefined {
  if (!v.quarantine && !v.collector) return undefined;
  if (v['max-upload'] !== undefined && !/^\d+$/.test(v['max-upload'])) throw new UsageError('--max-upload wants a byte count');
  return new Quarantine({
    ...(v.quarantine ? { dir: v.quarantine } : {}),
    ...(v['max-upload'] !== undefined ? { maxBytes: Number(v['max-upload']) } : {}),
    ...(v.collector
      ? {
          collector: {
            url: v.collector,
            ...(v['collector-ca'] ? { ca: readFileSync(v['collector-ca']) } : {}),
            ...(process.env.PARASIGHT_COLLECTOR_TOKEN ? { token: process.env.PARASIGHT_COLLECTOR_TOKEN } : {}),
          },
        }
      : {}),
  });
}

function report(action: 'check' | 'diff', v: Values, results: CheckResult[]): number {
  if (results.length === 0) {
    process.stderr.write(`parasight baseline: no running process matches the target\n`);
    return EXIT_USAGE;
  }
  if (v.json) {
    if (action === 'check') for (const r of results) for (const e of r.events) out(eventLine(e));
    else out(JSON.stringify(results.map(diffDocument), null, 2) + '\n');
  } else {
    for (const r of results) printCheck(r, action === 'diff');
  }
  if (results.some((r) => r.comparison.risk === 'high')) return EXIT_FINDINGS;
  if (results.some((r) => !r.comparison.baseline)) return EXIT_USAGE;
  return EXIT_OK;
}

function diffDocument(r: CheckResult): Record<string, unknown> {
  const c = r.comparison;
  const before = new Set(c.baseline?.feature.paths ?? []);
  const now = new Set(c.current.paths);
  return {
    app: r.snapshot.app,
    app_version: r.snapshot.appVersion.version,
    baseline: c.baseline ? { feature_hash: c.baseline.feature.featureHash, recorded_at: c.baseline.recordedAt } : null,
    feature_hash: c.current.featureHash,
    same_paths: c.samePaths,
    added: c.current.paths.filter((p) => !before.has(p)),
    removed: [...before].filter((p) => !now.has(p)),
    risk: c.risk,
    findings: c.findings.map((f) => ({ risk: f.risk, reason: f.reason, ...findingEvidence(f) })),
  };
}

export const baseline: Command = {
  name: 'baseline',
  summary: 'record and check module-map baselines of applications (memory maps vs a known-good state)',
  usage,
  async run(argv) {
    let parsed: { values: Values; positionals: string[] };
    try {
      parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const { values: v, positionals } = parsed;
    const action = positionals[0];
    if (positionals.length !== 1) throw new UsageError('give exactly one action');
    if (v.memory !== undefined && !['record', 'check', 'diff', 'watch'].includes(action ?? '')) {
      throw new UsageError('--memory goes with record, check, diff and watch');
    }
    const store = new BaselineStore(v.db ?? defaultDbPath());
    let guest: Awaited<ReturnType<typeof guestSource>>;
    try {
      guest = await guestSource(v);
      const source = guest?.source;
      switch (action) {
        case 'record': {
          const target = targetOf(v, true)!;
          const det = await BaselineDetector.create({ store, ...(source ? { source } : {}), hashFiles: !v['no-hash'], codePages: v['code-pages'] === true });
          const results = det.record(target, {
            ...(v['app-version'] ? { appVersion: v['app-version'] } : {}),
            policy: anonExecPolicy(v['anon-exec']),
            merge: v.merge === true,
          });
          if (results.length === 0) {
            process.stderr.write(`parasight baseline: no running process matches the target\n`);
            return EXIT_USAGE;
          }
          for (const r of results) {
            if (v.json) for (const e of r.events) out(eventLine(e));
            else out(`${r.snapshot.app} (${r.snapshot.appVersion.version}): recorded revision ${r.stored.revision}, ${r.stored.record.files.length} files, ${r.snapshot.processes.length} process(es)\n`);
          }
          return EXIT_OK;
        }
        case 'check':
        case 'diff':
          return await runChecks(action, v, store, source);
        case 'watch':
          return await runWatch(v, store, source);
        case 'list': {
          const t = targetOf(v, false);
          const rows = store.list(t?.exe);
          const filtered = t?.name ? rows.filter((r) => r.app === t.name || r.app.endsWith(`/${t.name}`)) : rows;
          if (v.json) out(JSON.stringify(filtered, null, 2) + '\n');
          else for (const r of filtered) out(`${r.app}\t${r.appVersion}\trev ${r.revision}\t${r.source}\t${r.files} files\t${r.recordedAt}\t${r.osVersion}\t${r.deviceModel}\n`);
          return EXIT_OK;
        }
        case 'export': {
          const doc = JSON.stringify(store.exportAll(v.exe), null, 2) + '\n';
          if (v.out) writeFileSync(v.out, doc);
          else out(doc);
          return EXIT_OK;
        }
        case 'import': {
          if (!v.in) throw new UsageError('import needs --in FILE (or --in - for stdin)');
          const text = readFileSync(v.in === '-' ? 0 : v.in, 'utf8');
          let doc: unknown;
          try {
            doc = JSON.parse(text);
          } catch (e) {
            throw new UsageError(`${v.in}: not JSON (${(e as Error).message})`);
          }
          const added = store.importDocument(doc);
          out(v.json ? JSON.stringify({ imported: added }) + '\n' : `imported ${added} baseline(s)\n`);
          return EXIT_OK;
        }
        default:
          throw new UsageError(`unknown action "${action}"`);
      }
    } finally {
      guest?.close();
      store.close();
    }
  },
};
