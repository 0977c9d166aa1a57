/**
 * Compiled policy: rules compile once into flat match records; evaluation is first-match over an immutable
 * snapshot, on one flat record per connection (guest side first), never on raw packets.
 */
import { parseAddress, tryParseAddress } from '../decode/address.js';

export type Mode = 'default-deny' | 'default-allow';
export type Action = 'allow' | 'deny';

export interface RuleSpec {
  action?: Action;
  direction?: 'outbound' | 'inbound' | 'any';
  proto?: 'tcp' | 'udp' | 'any';
  remote?: string | string[];
  rport?: number | string | Array<number | string>;
  lport?: number | string | Array<number | string>;
  learned?: boolean;
  comment?: string;
}

export interface ProcessPolicySpec {
  name?: string;
  path?: string;
  mode: Mode;
  rules?: RuleSpec[];
  comment?: string;
}

export interface PolicySpec {
  version: 1;
  default?: { mode: Mode; rules?: RuleSpec[]; comment?: string };
  processes?: ProcessPolicySpec[];
}

/** What a rule is evaluated against. */
export interface ConnectionFacts {
  direction: 'outbound' | 'inbound';
  /** 6 TCP, 17 UDP, other IP protocol numbers never match a tcp/udp rule. */
  proto: number;
  family: number;
  /** Remote address words (IPv4 in word 0). */
  remote: ArrayLike<number>;
  rport: number;
  lport: number;
}

export interface Verdict {
  action: Action;
  /** Which policy decided: a process entry or the global default. */
  scope: 'process' | 'default';
  /** Name/path of the process entry ("default" for the fallback). */
  policy: string;
  /** Index of the matching rule, -1 when the mode's default decided. */
  ruleIndex: number;
  /** Stable text id, e.g. `curl#2` or `curl#mode`. */
  rule: string;
  learned: boolean;
}

interface Net {
  family: number;
  words: Uint32Array;
  prefix: number;
}

export interface CompiledRule {
  action: Action;
  dir: 0 | 1 | 2;
  proto: number;
  nets: Net[] | null;
  rports: number[] | null;
  lports: number[] | null;
  learned: boolean;
}

export interface CompiledPolicy {
  label: string;
  mode: Mode;
  rules: CompiledRule[];
  /** One immutable verdict per rule, and one for the mode: evaluation allocates nothing. */
  verdicts: Verdict[];
  modeVerdict: Verdict;
  scope: 'process' | 'default';
  name?: string;
  path?: string;
}

/** Thrown by compile with the JSON path of the bad field (the loader turns it into file:line). */
export class RuleFieldError extends Error {
  constructor(
    readonly path: (string | number)[],
    message: string,
  ) {
    super(message);
  }
}

export function parseNet(text: string): Net | undefined {
  const slash = text.indexOf('/');
  const addr = tryParseAddress(slash < 0 ? text : text.slice(0, slash));
  if (!addr) return undefined;
  const max = addr.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) return undefined;
    prefix = Number(p);
  }
  return { family: addr.family, words: addr.words, prefix };
}

function netContains(n: Net, family: number, w: ArrayLike<number>): boolean {
  if (n.family !== family) return false;
  let bits = n.prefix;
  for (let i = 0; i < 4 && bits > 0; i++, bits -= 32) {
    const mask = bits >= 32 ? 0xffffffff : ~(0xffffffff >>> bits) >>> 0;
    if (((w[i]! ^ n.words[i]!) & mask) >>> 0 !== 0) return false;
  }
  return true;
}

function compilePorts(v: RuleSpec['rport'], path: (string | number)[]): number[] | null {
  if (v === undefined) return null;
  const list = Array.isArray(v) ? v : [v];
  const out: number[] = [];
  list.forEach((p, i) => {
    const at = Array.isArray(v) ? [...path, i] : path;
    if (typeof p === 'number') {
      out.push(p, p);
      return;
    }
    const [lo, hi = lo] = p.split('-').map(Number) as [number, number?];
    if (lo > 65535 || hi! > 65535 || lo > hi!) throw new RuleFieldError(at, `port range "${p}" must be low-high within 0-65535`);
    out.push(lo, hi!);
  });
  return out;
}

function inPorts(ranges: number[], port: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) if (port >= ranges[i]! && port <= ranges[i + 1]!) return true;
  return false;
}

export function compileRule(r: RuleSpec, mode: Mode, path: (string | number)[]): CompiledRule {
  let nets: Net[] | null = null;
  if (r.remote !== undefined) {
    const list = Array.isArray(r.remote) ? r.remote : [r.remote];
    nets = list.map((t, i) => {
      const n = parseNet(t);
      if (!n) throw new RuleFieldError(Array.isArray(r.remote) ? [...path, 'remote', i] : [...path, 'remote'], `"${t}" is not an IPv4/IPv6 address or CIDR`);
      return n;
    });
  }
  return {
    action: r.action ?? (mode === 'default-deny' ? 'allow' : 'deny'),
    dir: r.direction === 'outbound' ? 1 : r.direction === 'inbound' ? 2 : 0,
    proto: r.proto === 'tcp' ? 6 : r.proto === 'udp' ? 17 : 0,
    nets,
    rports: compilePorts(r.rport, [...path, 'rport']),
    lports: compilePorts(r.lport, [...path, 'lport']),
    learned: r.learned === true,
  };
}

export function ruleMatches(r: CompiledRule, f: ConnectionFacts): boolean {
  if (r.dir !== 0 && r.dir !== (f.direction === 'outbound' ? 1 : 2)) return false;
  if (r.proto !== 0 && r.proto !== f.proto) return false;
  if (r.rports && !inPorts(r.rports, f.rport)) return false;
  if (r.lports && !inPorts(r.lports, f.lport)) return false;
  if (r.nets) {
    let any = false;
    for (const n of r.nets) if (netContains(n, f.family, f.remote)) any = true;
    if (!any) return false;
  }
  return true;
}

export function evaluate(p: CompiledPolicy, f: ConnectionFacts): Verdict {
  for (let i = 0; i < p.rules.length; i++) if (ruleMatches(p.rules[i]!, f)) return p.verdicts[i]!;
  return p.modeVerdict;
}

function compilePolicy(label: string, mode: Mode, scope: 'process' | 'default', rules: CompiledRule[], extra: { name?: string; path?: string } = {}): CompiledPolicy {
  const verdicts = rules.map((r, i): Verdict => Object.freeze({ action: r.action, scope, policy: label, ruleIndex: i, rule: `${label}#${i}`, learned: r.learned }));
  const modeVerdict: Verdict = Object.freeze({ action: mode === 'default-deny' ? 'deny' : 'allow', scope, policy: label, ruleIndex: -1, rule: `${label}#mode`, learned: false });
  return { label, mode, scope, rules, verdicts, modeVerdict, ...extra };
}

/** Linux comm and Windows ImageFileName are truncated (15 chars): a longer policy name matches its prefix. */
function nameMatches(policyName: string, processName: string): boolean {
  const a = policyName.toLowerCase();
  const b = processName.toLowerCase();
  return a === b || (b.length >= 14 && b.length < a.length && a.startsWith(b));
}

function pathMatches(policyPath: string, processPath: string | undefined): boolean {
  if (processPath === undefined) return false;
  // Windows paths compare case-insensitively.
  return policyPath.includes('\\') ? policyPath.toLowerCase() === processPath.toLowerCase() : policyPath === processPath;
}

export class Policy {
  readonly processes: CompiledPolicy[];
  readonly fallback: CompiledPolicy;
  readonly spec: PolicySpec;

  constructor(spec: PolicySpec) {
    this.spec = spec;
    const d = spec.default ?? { mode: 'default-allow' as Mode };
    this.fallback = compilePolicy('default', d.mode, 'default', (d.rules ?? []).map((r, i) => compileRule(r, d.mode, ['default', 'rules', i])));
    this.processes = (spec.processes ?? []).map((p, pi) =>
      compilePolicy(
        p.name ?? p.path!,
        p.mode,
        'process',
        (p.rules ?? []).map((r, i) => compileRule(r, p.mode, ['processes', pi, 'rules', i])),
        { name: p.name, path: p.path },
      ),
    );
  }

  /** Process name/path → policy, memoised: the policy is immutable and a guest runs few distinct programs. */
  private readonly memo = new Map<string, CompiledPolicy>();

  /** The first process entry matching name and/or path (both must match when both are given), else the default. */
  policyFor(name: string, path: string | undefined): CompiledPolicy {
    const key = path === undefined ? name : `${name}\0${path}`;
    let hit = this.memo.get(key);
    if (hit === undefined) {
      hit = this.findPolicy(name, path);
      if (this.memo.size >= 4096) this.memo.clear();
      this.memo.set(key, hit);
    }
    return hit;
  }

  private findPolicy(name: string, path: string | undefined): CompiledPolicy {
    for (const p of this.processes) {
      if (p.name !== undefined && !nameMatches(p.name, name)) continue;
      if (p.path !== undefined && !pathMatches(p.path, path)) continue;
      return p;
    }
    return this.fallback;
  }

  decide(name: string, path: string | undefined, f: ConnectionFacts): Verdict {
    return evaluate(this.policyFor(name, path), f);
  }

  /** The global fallback, for connections no process could be attributed to. */
  decideUnattributed(f: ConnectionFacts): Verdict {
    return evaluate(this.fallback, f);
  }
}

export function factsFor(direction: 'outbound' | 'inbound', proto: number, remote: string, rport: number, lport: number): ConnectionFacts {
  const a = parseAddress(remote);
  return { direction, proto, family: a.family, remote: a.words, rport, lport };
}
