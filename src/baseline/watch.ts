/**
 * Periodic checking of the watched applications' processes: every round collects the target again (so processes
 * that started since are checked at once) and compares each application with its baseline. Rounds stay cheap when
 * nothing changed: file content hashes come from the detector's identity cache (a stat per file, no read), and an
 * application whose maps and findings are unchanged emits nothing. A finding is reported once per process (first
 * event in full); the per-app summary is emitted again only when the set of findings changes.
 */
import type { BaselineDetector } from './detector.js';
import { maxRisk } from './classify.js';
import type { BaselineEvent } from './events.js';
import type { TargetSpec } from './source.js';
import type { Finding, Risk } from './types.js';

export interface WatchOptions {
  /** Time between rounds (ms). */
  intervalMs: number;
  onEvent: (e: BaselineEvent) => void;
  /** Stops the watch (after the current round). */
  signal?: AbortSignal;
  /** Stop after this many rounds (default: until aborted). */
  rounds?: number;
  appVersion?: string;
  /** Called after each round with its number (1, 2, ...). */
  onRound?: (round: number) => void;
}

export interface WatchSummary {
  rounds: number;
  checks: number;
  events: number;
  /** Worst risk reported during the watch. */
  risk: Risk;
}

function findingKey(f: Finding): string {
  return `${f.kind}\0${f.path}\0${f.pids.join(',')}\0${f.actualHash ?? ''}`;
}

export async function watch(det: BaselineDetector, target: TargetSpec, o: WatchOptions): Promise<WatchSummary> {
  const reported = new Set<string>();
  const lastSummary = new Map<string, string>();
  const summary: WatchSummary = { rounds: 0, checks: 0, events: 0, risk: 'none' };
  const emit = (e: BaselineEvent) => {
    summary.events++;
    o.onEvent(e);
  };
  while (!o.signal?.aborted && (o.rounds === undefined || summary.rounds < o.rounds)) {
    summary.rounds++;
    const snapshots = det.collect(target, o.appVersion ? { appVersion: o.appVersion } : {});
    const live = new Set<string>();
    for (const s of snapshots) {
      summary.checks++;
      const r = det.checkSnapshot(s);
      const fresh = r.comparison.findings.filter((f) => {
        const k = findingKey(f);
        live.add(k);
        return !reported.has(k);
      });
      for (const f of fresh) reported.add(findingKey(f));
      summary.risk = maxRisk([summary.risk, ...fresh.map((f) => f.risk)]);
      const state = [...r.comparison.findings.map(findingKey)].sort().join('\n') + `\0${r.comparison.baseline ? 1 : 0}`;
      const changed = lastSummary.get(s.app) !== state;
      lastSummary.set(s.app, state);
      for (const e of r.events) {
        if (e.type === 'baseline.finding') {
          // Events are made in the same order as the findings.
          const f = r.comparison.findings[r.events.indexOf(e)];
          if (f && fresh.includes(f)) emit(e);
        } else if (changed || e.type === 'baseline.recorded') {
          emit(e);
        }
      }
    }
    // A finding that went away (process exited, file restored) may be reported again if it comes back.
    for (const k of reported) if (!live.has(k)) reported.delete(k);
    o.onRound?.(summary.rounds);
    if (o.rounds !== undefined && summary.rounds >= o.rounds) break;
    await sleep(o.intervalMs, o.signal);
  }
  return summary;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
