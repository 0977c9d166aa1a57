import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Quarantine } from '../../src/baseline/quarantine.js';
import type { Finding, Snapshot } from '../../src/baseline/types.js';

const dir = mkdtempSync(join(tmpdir(), 'bl-quarantine-'));
let server: Server;
let url = '';
let ca = '';
/** Status codes the server answers with, in order (then 200). */
let script: number[] = [];
const received: { auth?: string; body: { evidence: Record<string, unknown>; content_base64: string } }[] = [];

beforeAll(async () => {
  // A throwaway CA-less self-signed certificate for 127.0.0.1: the client must be told to trust it.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  ca = readFileSync(join(dir, 'cert.pem'), 'utf8');
  server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: ca }, (req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => {
      const status = script.shift() ?? 200;
      if (status === 200) received.push({ auth: req.headers.authorization, body: JSON.parse(body) as (typeof received)[number]['body'] });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/evidence`;
});

afterAll(() => {
  server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const snapshot: Snapshot = {
  app: '/usr/bin/app', appVersion: { version: '1', source: 'given' }, env: { osVersion: 'OS', deviceModel: 'Dev' },
  processes: [], origin: 'host', collectedAt: '', problems: [],
};
const finding = (path: string): Finding => ({
  kind: 'extra', risk: 'high', path, code: true, why: 'exec-mapping', pids: [1], reason: 'test',
});

function payload(name: string, bytes: number): string {
  const p = join(dir, name);
  writeFileSync(p, Buffer.alloc(bytes, name));
  return p;
}

describe('Quarantine', () => {
  it('copies the file under its SHA-256 with the evidence, and POSTs both with the token', async () => {
    const file = payload('evil.so', 5000);
    const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
    const q = new Quarantine({ dir: join(dir, 'q'), collector: { url, ca, token: 's3cret', backoffMs: 10 } });
    q.submit(finding(file), snapshot, file);
    const [o] = await q.drain();
    expect(o).toMatchObject({ sha256: sha, size: 5000, upload: 'sent', attempts: 1, copy: join(dir, 'q', `${sha}.bin`) });
    expect(readFileSync(o!.copy!).equals(readFileSync(file))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'q', `${sha}.json`), 'utf8'))).toMatchObject({ path: file, sha256: sha, risk: 'high' });
    const got = received.at(-1)!;
    expect(got.auth).toBe('Bearer s3cret');
    expect(got.body.evidence).toMatchObject({ path: file, sha256: sha, app: '/usr/bin/app' });
    expect(Buffer.from(got.body.content_base64, 'base64').equals(readFileSync(file))).toBe(true);
  });

  it('retries 5xx with back-off and gives up on other client errors at once', async () => {
    const file = payload('retry.so', 100);
    script = [503, 502];
    const q = new Quarantine({ collector: { url, ca, backoffMs: 5 } });
    q.submit(finding(file), snapshot, file);
    expect((await q.drain())[0]).toMatchObject({ upload: 'sent', attempts: 3 });
    script = [401];
    const q2 = new Quarantine({ collector: { url, ca, backoffMs: 5 } });
    q2.submit(finding(file), snapshot, file);
    expect((await q2.drain())[0]).toMatchObject({ upload: 'failed', attempts: 1, error: 'HTTP 401' });
  });

  it('refuses a server it was not told to trust (no silent fallback)', async () => {
    const file = payload('untrusted.so', 10);
    const q = new Quarantine({ collector: { url, retries: 1, backoffMs: 5 } });
    q.submit(finding(file), snapshot, file);
    const [o] = await q.drain();
    expect(o!.upload).toBe('failed');
    expect(o!.error).toMatch(/self[- ]signed|certificate/i);
  });

  it('enforces the size cap and HTTPS only', async () => {
    const big = payload('big.so', 4096);
    const q = new Quarantine({ dir: join(dir, 'q2'), collector: { url, ca }, maxBytes: 1024 });
    q.submit(finding(big), snapshot, big);
    const [o] = await q.drain();
    expect(o).toMatchObject({ upload: 'failed' });
    expect(o!.error).toMatch(/cap/);
    expect(o!.copy).toBeUndefined();
    expect(() => new Quarantine({ collector: { url: url.replace('https:', 'http:') } })).toThrow(/https/);
  });

  it('never blocks the caller: submit returns before the collector answers', async () => {
    const file = payload('slow.so', 10);
    script = [503, 503, 503];
    const q = new Quarantine({ collector: { url, ca, backoffMs: 20 } });
    q.submit(finding(file), snapshot, file);
    let done = false;
    void q.drain().then(() => (done = true));
    // The caller's next turn of the event loop comes while the upload is still backing off (20+40+80 ms).
    await new Promise((r) => setTimeout(r, 0));
    expect(done).toBe(false);
    expect((await q.drain())[0]).toMatchObject({ upload: 'sent', attempts: 4 });
  });
});
