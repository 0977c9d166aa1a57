/**
 * Optional side channel for suspicious files: copy the file into a quarantine folder (named by SHA-256, with its
 * evidence beside it) and POST it with the evidence to a collector. HTTPS only (a custom CA may be given), bearer
 * token, a size cap, retries with exponential back-off on network errors, 429 and 5xx. Work is queued and runs in
 * the background: detection never waits for it (`drain()` lets a CLI wait before it exits).
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync } from 'node:fs';
import { rename, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { badArgument } from '../errors.js';
import { findingEvidence } from './events.js';
import type { Finding, Snapshot } from './types.js';

export interface CollectorOptions {
  /** https:// URL the evidence is POSTed to. */
  url: string;
  /** PEM CA certificate(s) to trust for the collector (default: the system store). */
  ca?: string | Buffer;
  /** Sent as "Authorization: Bearer <token>". */
  token?: string;
  /** Attempts after the first (default 4). */
  retries?: number;
  /** First back-off delay; doubles per retry (default 500 ms). */
  backoffMs?: number;
  /** Per-request timeout (default 15 s). */
  timeoutMs?: number;
}

export interface QuarantineOptions {
  /** Folder to copy suspicious files into (created when missing). */
  dir?: string;
  collector?: CollectorOptions;
  /** Files larger than this are neither copied nor sent, only reported (default 64 MiB). */
  maxBytes?: number;
}

export interface QuarantineOutcome {
  path: string;
  sha256?: string;
  size?: number;
  /** Where the copy went, when one was made. */
  copy?: string;
  /** "sent" (HTTP 2xx), "failed" (after retries), "skipped" (no collector). */
  upload: 'sent' | 'failed' | 'skipped';
  attempts: number;
  error?: string;
}

const DEFAULT_MAX = 64 * 1024 * 1024;

/** Reads a file fully, refusing to go past `max` bytes (the size a /proc map_files stat reports can be 0). */
async function readCapped(path: string, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of createReadStream(path)) {
    size += (c as Buffer).length;
    if (size > max) throw new Error(`larger than the ${max}-byte cap`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export class Quarantine {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly outcomes: QuarantineOutcome[] = [];
  private readonly max: number;
  /** What was already queued: a watch reports the same finding every round, the file is sent once. */
  private readonly seen = new Set<string>();

  constructor(private readonly opts: QuarantineOptions) {
    if (opts.collector) {
      let u: URL;
      try {
        u = new URL(opts.collector.url);
      } catch {
        throw badArgument(`collector URL is not a URL: ${opts.collector.url}`);
      }
      if (u.protocol !== 'https:') throw badArgument(`collector URL must be https:// (got ${u.protocol})`);
    }
    if (opts.dir) mkdirSync(opts.dir, { recursive: true });
    this.max = opts.maxBytes ?? DEFAULT_MAX;
  }

  /** Queues one suspicious file; returns at once. */
  submit(finding: Finding, snapshot: Snapshot, contentPath: string | undefined): void {
    if (!contentPath) return;
    const key = `${finding.kind}\0${finding.path}\0${finding.actualHash ?? ''}\0${contentPath}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.queue = this.queue.then(() => this.handle(finding, snapshot, contentPath)).then(
      (o) => this.outcomes.push(o),
      (e: unknown) => this.outcomes.push({ path: finding.path, upload: 'failed', attempts: 0, error: String(e) }),
    );
  }

  /** Waits for everything queued so far; returns every outcome since the start. */
  async drain(): Promise<QuarantineOutcome[]> {
    await this.queue;
    return [...this.outcomes];
  }

  private async handle(f: Finding, s: Snapshot, contentPath: string): Promise<QuarantineOutcome> {
    const out: QuarantineOutcome = { path: f.path, upload: 'skipped', attempts: 0 };
    let data: Buffer;
    try {
      const st = await stat(contentPath);
      if (st.size > this.max) throw new Error(`larger than the ${this.max}-byte cap (${st.size} bytes)`);
      data = await readCapped(contentPath, this.max);
    } catch (e) {
      out.error = `not quarantined: ${(e as Error).message}`;
      if (this.opts.collector) out.upload = 'failed';
      return out;
    }
    out.size = data.length;
    out.sha256 = createHash('sha256').update(data).digest('hex');
    const evidence = {
      app: s.app,
      app_version: s.appVersion.version,
      os_version: s.env.osVersion,
      device_model: s.env.deviceModel,
      origin: s.origin,
      risk: f.risk,
      reason: f.reason,
      ...findingEvidence(f),
      sha256: out.sha256,
      size: data.length,
    };
    if (this.opts.dir) {
      const file = join(this.opts.dir, out.sha256);
      // Write then rename: a reader never sees half a file.
      await writeFile(`${file}.tmp`, data, { mode: 0o600 });
      await rename(`${file}.tmp`, `${file}.bin`);
      await writeFile(`${file}.json`, JSON.stringify(evidence, null, 2) + '\n');
      out.copy = `${file}.bin`;
    }
    if (this.opts.collector) {
      const body = JSON.stringify({ evidence, content_base64: data.toString('base64') });
      const r = await this.post(this.opts.collector, body);
      out.upload = r.ok ? 'sent' : 'failed';
      out.attempts = r.attempts;
      if (r.error) out.error = r.error;
    }
    return out;
  }

  private async post(c: CollectorOptions, body: string): Promise<{ ok: boolean; attempts: number; error?: string }> {
    const retries = c.retries ?? 4;
    let delay = c.backoffMs ?? 500;
    let last = '';
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
      const r = await postOnce(c, body);
      if (r.status !== undefined && r.status >= 200 && r.status < 300) return { ok: true, attempts: attempt };
      last = r.status !== undefined ? `HTTP ${r.status}` : (r.error ?? 'unknown error');
      // Client errors other than 429 will not get better by retrying.
      if (r.status !== undefined && r.status < 500 && r.status !== 429) return { ok: false, attempts: attempt, error: last };
      if (attempt <= retries) {
        await new Promise((res) => setTimeout(res, delay));
        delay *= 2;
      }
    }
    return { ok: false, attempts: retries + 1, error: last };
  }
}

function postOnce(c: CollectorOptions, body: string): Promise<{ status?: number; error?: string }> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    };
    if (c.token) headers.authorization = `Bearer ${c.token}`;
    const req = request(c.url, { method: 'POST', headers, timeout: c.timeoutMs ?? 15_000, ...(c.ca ? { ca: c.ca } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      res.on('error', (e) => resolve({ error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => resolve({ error: e.message }));
    req.end(body);
  });
}
