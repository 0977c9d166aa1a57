/**
 * Optional enforcement (off by default): drops a parasitized process's denied destinations at the bridge with
 * nftables, in parasight's own `bridge` table (existing rules untouched). Each block is a set element
 * guest-address . remote-address . protocol . remote-port with a timeout, matched in both directions, so later
 * connections of the guest to that destination fail while other traffic keeps flowing. Updates are batched (one
 * `nft -f -` per batch: a process run costs ~10 ms whatever its size) and run asynchronously. The table is removed on
 * close; after a crash remove it with:  nft delete table bridge parasight
 *
 * Passive capture means the first packets of an abnormal connection are already out when the verdict arrives.
 */
import { execFile, execFileSync } from 'node:child_process';
import { ParasightError } from '../errors.js';

export interface EnforcerOptions {
  /** nftables table name (bridge family). */
  table?: string;
  /** How long a block lasts (s). */
  timeoutS?: number;
  /** nft binary. */
  nft?: string;
  /** Batch window (ms). */
  batchMs?: number;
}

export interface BlockTarget {
  family: number;
  local: string;
  remote: string;
  proto: number;
  rport: number;
}

export function removeEnforcementTable(table = 'parasight', nft = 'nft'): void {
  try {
    execFileSync(nft, ['delete', 'table', 'bridge', table], { stdio: 'ignore' });
  } catch {
    // Not there: nothing to remove.
  }
}

export class BridgeEnforcer {
  readonly table: string;
  private readonly nft: string;
  private readonly timeoutS: number;
  private readonly batchMs: number;
  private queue: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private readonly seen = new Set<string>();
  blocked = 0;
  errors = 0;
  lastError: string | undefined;
  private closed = false;

  constructor(options: EnforcerOptions = {}) {
    this.table = options.table ?? 'parasight';
    this.nft = options.nft ?? 'nft';
    this.timeoutS = options.timeoutS ?? 600;
    this.batchMs = options.batchMs ?? 20;
    if (!/^[A-Za-z][A-Za-z0-9_]{0,30}$/.test(this.table)) throw new ParasightError(`bad nftables table name ${JSON.stringify(this.table)}`, { code: 'BAD_ARGUMENT' });
    const t = this.table;
    const ruleset = [
      `table bridge ${t} {`,
      '  set block4 { type ipv4_addr . ipv4_addr . inet_proto . inet_service; flags timeout; }',
      '  set block6 { type ipv6_addr . ipv6_addr . inet_proto . inet_service; flags timeout; }',
      '  chain forward_filter {',
      '    type filter hook forward priority -10; policy accept;',
      '    ip saddr . ip daddr . meta l4proto . th dport @block4 drop',
      '    ip daddr . ip saddr . meta l4proto . th sport @block4 drop',
      '    ip6 saddr . ip6 daddr . meta l4proto . th dport @block6 drop',
      '    ip6 daddr . ip6 saddr . meta l4proto . th sport @block6 drop',
      '  }',
      '}',
    ].join('\n');
    // A leftover table from a crashed run is replaced, never merged.
    removeEnforcementTable(t, this.nft);
    try {
      execFileSync(this.nft, ['-f', '-'], { input: ruleset, stdio: ['pipe', 'ignore', 'pipe'] });
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
      const why = err.code === 'ENOENT' ? 'the nft command is missing (Debian: apt-get install nftables)' : (err.stderr?.toString().trim() ?? err.message);
      throw new ParasightError(`cannot set up enforcement (nftables bridge table ${t}): ${why}; it needs root and a kernel with nf_tables bridge support`, {
        code: 'UNSUPPORTED',
        cause: e,
      });
    }
  }

  /** Blocks guest↔remote on this protocol and remote port (batched; idempotent). */
  block(t: BlockTarget): void {
    if (this.closed || (t.proto !== 6 && t.proto !== 17)) return;
    const key = `${t.local}|${t.remote}|${t.proto}|${t.rport}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const proto = t.proto === 6 ? 'tcp' : 'udp';
    const set = t.family === 6 ? 'block6' : 'block4';
    this.queue.push(`add element bridge ${this.table} ${set} { ${t.local} . ${t.remote} . ${proto} . ${t.rport} timeout ${this.timeoutS}s }`);
    this.blocked++;
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.batchMs);
    }
  }

  /** Sends the queued elements now; resolves when nft has applied them. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length === 0) return this.inFlight;
    const batch = this.queue.join('\n') + '\n';
    this.queue = [];
    this.inFlight = this.inFlight.then(
      () =>
        new Promise<void>((resolve) => {
          const child = execFile(this.nft, ['-f', '-'], (err, _out, stderr) => {
            if (err) {
              this.errors++;
              this.lastError = stderr.trim() || err.message;
            }
            resolve();
          });
          child.stdin?.end(batch);
        }),
    );
    return this.inFlight;
  }

  /** Removes the table (and every block). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    removeEnforcementTable(this.table, this.nft);
  }
}
