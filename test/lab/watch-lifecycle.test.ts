/**
 * How `parasight watch` ends on a live interface (a veth in a network namespace of its own): SIGTERM while nothing
 * arrives ends it at once with its summary (the capture library alone would keep the process alive until one more
 * packet came), and an interface that goes away (the VM shut down, its tap removed) ends it with SOURCE_GONE and
 * exit status 2 instead of a silent exit 0. Needs root (network namespaces); skips with the reason otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, root } from './sensor-helpers.js';

const isRoot = process.getuid?.() === 0;
const NS = `ps-life-${process.pid % 100000}`;
let work: string;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function addVeth(name: string): void {
  ip('-n', NS, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`);
  ip('-n', NS, 'link', 'set', name, 'up');
  ip('-n', NS, 'link', 'set', `${name}p`, 'up');
}

interface Run {
  exit: Promise<{ code: number | null; ms: number }>;
  stderr: () => string;
  signal: (s: NodeJS.Signals) => number;
}

/** `parasight watch` on `iface`, started; resolves once it logged that it is watching. */
async function watch(iface: string): Promise<Run> {
  const child = spawn('ip', ['netns', 'exec', NS, process.execPath, join(root, 'dist/cli/main.js'), 'watch', '--iface', iface, '--guest-ip', '10.66.0.2',
    '--rules', join(work, 'policy.yaml'), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let sent = 0;
  const exit = new Promise<{ code: number | null; ms: number }>((resolve) => child.once('exit', (code) => resolve({ code, ms: Date.now() - sent })));
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('"msg":"watching"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`watch exited (${code}) before watching:\n${err}`)));
  });
  return {
    exit,
    stderr: () => err,
    signal: (s) => {
      sent = Date.now();
      child.kill(s);
      return sent;
    },
  };
}

describe.skipIf(!isRoot)('parasight watch: how a live watch ends', () => {
  beforeAll(() => {
    ensureBuilt();
    work = mkdtempSync(join(tmpdir(), 'parasight-life-'));
    writeFileSync(join(work, 'policy.yaml'), 'version: 1\n');
    ip('netns', 'add', NS);
  });
  afterAll(() => {
    try {
      ip('netns', 'del', NS);
    } catch {
      /* already gone */
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('SIGTERM on an idle interface: the summary, then exit 0 at once', async () => {
    addVeth('idle0');
    const run = await watch('idle0');
    run.signal('SIGTERM');
    const timeout = new Promise<{ code: string; ms: number }>((r) => setTimeout(() => r({ code: 'still running after 10 s', ms: -1 }), 10_000).unref());
    const ended = await Promise.race([run.exit, timeout]);
    expect(ended.code, run.stderr()).toBe(0);
    expect(run.stderr()).toMatch(/"msg":"0 packets \(0 malformed\), 0 flows, 0 events"/);
  }, 30_000);

  it('the interface goes away: the summary, SOURCE_GONE and exit 2, not a silent exit 0', async () => {
    addVeth('gone0');
    const run = await watch('gone0');
    ip('-n', NS, 'link', 'del', 'gone0');
    const ended = await run.exit;
    expect(ended.code, run.stderr()).toBe(2);
    expect(run.stderr()).toMatch(/"msg":"capture stopped"/);
    expect(run.stderr()).toMatch(/"msg":"0 packets/);
    expect(run.stderr()).toMatch(/capture on gone0 stopped: the interface went down or was removed .*\[SOURCE_GONE\]/);
  }, 30_000);
});
