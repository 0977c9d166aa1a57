/**
 * `learn`: watches a clean period and proposes default-deny policies with allow rules for single-purpose programs
 * (narrow traffic: few peers and ports). Broad programs (browsers, package managers) are reported, not guessed at.
 * The output is the policy format itself, rules marked `learned: true`, for a person to review.
 */
import { stringify } from 'yaml';
import type { PolicySpec, RuleSpec } from './policy.js';

export interface LearnOptions {
  /** A program talking to more distinct peers than this is not single-purpose. */
  maxPeers?: number;
  /** ... or using more distinct remote ports (outbound) / local ports (inbound). */
  maxPorts?: number;
}

export interface ObservedConnection {
  name: string;
  path: string | undefined;
  direction: 'outbound' | 'inbound';
  proto: 'tcp' | 'udp';
  remote: string;
  rport: number;
  lport: number;
}

interface ProcessTraffic {
  name: string;
  path: string | undefined;
  out: Map<string, { proto: 'tcp' | 'udp'; remote: string; rport: number }>;
  inbound: Map<string, { proto: 'tcp' | 'udp'; lport: number }>;
  peers: Set<string>;
  ports: Set<string>;
  connections: number;
}

export interface LearnResult {
  policy: PolicySpec;
  learned: string[];
  /** Programs left out, with why. */
  skipped: Array<{ process: string; reason: string }>;
}

export class Learner {
  private readonly byProcess = new Map<string, ProcessTraffic>();
  private readonly maxPeers: number;
  private readonly maxPorts: number;

  constructor(options: LearnOptions = {}) {
    this.maxPeers = options.maxPeers ?? 4;
    this.maxPorts = options.maxPorts ?? 3;
  }

  observe(c: ObservedConnection): void {
    const key = `${c.name}\0${c.path ?? ''}`;
    let t = this.byProcess.get(key);
    if (!t) {
      t = { name: c.name, path: c.path, out: new Map(), inbound: new Map(), peers: new Set(), ports: new Set(), connections: 0 };
      this.byProcess.set(key, t);
    }
    t.connections++;
    if (c.direction === 'outbound') {
      t.out.set(`${c.proto} ${c.remote} ${c.rport}`, { proto: c.proto, remote: c.remote, rport: c.rport });
      t.peers.add(c.remote);
      t.ports.add(`${c.proto}/${c.rport}`);
    } else {
      // Inbound: a server's identity is its listening port; peers vary.
      t.inbound.set(`${c.proto} ${c.lport}`, { proto: c.proto, lport: c.lport });
      t.ports.add(`in ${c.proto}/${c.lport}`);
    }
  }

  result(): LearnResult {
    const processes: NonNullable<PolicySpec['processes']> = [];
    const learned: string[] = [];
    const skipped: LearnResult['skipped'] = [];
    const entries = [...this.byProcess.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const t of entries) {
      const label = t.path ?? t.name;
      if (t.peers.size > this.maxPeers) {
        skipped.push({ process: label, reason: `${t.peers.size} distinct peers (more than ${this.maxPeers}): not single-purpose` });
        continue;
      }
      if (t.ports.size > this.maxPorts) {
        skipped.push({ process: label, reason: `${t.ports.size} distinct ports (more than ${this.maxPorts}): not single-purpose` });
        continue;
      }
      const rules: RuleSpec[] = [];
      for (const o of [...t.out.values()].sort((a, b) => a.remote.localeCompare(b.remote) || a.rport - b.rport)) {
        rules.push({ action: 'allow', direction: 'outbound', proto: o.proto, remote: o.remote, rport: o.rport, learned: true });
      }
      for (const i of [...t.inbound.values()].sort((a, b) => a.lport - b.lport)) {
        rules.push({ action: 'allow', direction: 'inbound', proto: i.proto, lport: i.lport, learned: true });
      }
      const entry: NonNullable<PolicySpec['processes']>[number] = { name: t.name, mode: 'default-deny', rules, comment: `learned from ${t.connections} connection(s); review before use` };
      if (t.path) entry.path = t.path;
      processes.push(entry);
      learned.push(label);
    }
    return { policy: { version: 1, default: { mode: 'default-allow' }, processes }, learned, skipped };
  }

  /** YAML text of the result with a review header. */
  toYaml(when = new Date()): string {
    const r = this.result();
    const header = [
      `# parasight policy learned ${when.toISOString()}: review every rule before enforcing it.`,
      ...r.skipped.map((s) => `# not learned: ${s.process} — ${s.reason}`),
    ].join('\n');
    return `${header}\n${stringify(r.policy)}`;
  }
}
