/**
 * Builds the injection fixtures (test/fixtures/inject/*.c) with gcc into a temporary folder and runs victims whose
 * stdout lines ("ready", "done late", ...) say when a step has happened.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../fixtures/inject/', import.meta.url));

export interface Built {
  dir: string;
  /** Victim executables (two copies: separate apps, separate baselines). */
  victim: string;
  victim2: string;
  libvictim: string;
  /** libvictim.so built with another VALUE: same path, different content once copied over. */
  libvictimTampered: string;
  libvictimClean: string;
  payload: string;
  plugin: string;
  injector: string;
}

function gcc(args: string[]): void {
  execFileSync('gcc', ['-O1', '-Wall', '-Wextra', '-Werror', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Builds a victim executable at `out` (extra gcc flags change its code, and so its build-id). */
export function buildVictim(dir: string, out: string, flags: string[] = []): void {
  gcc([...flags, '-o', out, join(src, 'victim.c'), `-L${dir}`, '-lvictim', `-Wl,-rpath,${dir}`]);
}

export function buildFixtures(): Built {
  const dir = mkdtempSync(join(tmpdir(), 'parasight-inject-'));
  const p = (n: string) => join(dir, n);
  gcc(['-shared', '-fPIC', '-DVALUE=1', '-o', p('libvictim.clean.so'), join(src, 'libvictim.c')]);
  gcc(['-shared', '-fPIC', '-DVALUE=2', '-o', p('libvictim.tampered.so'), join(src, 'libvictim.c')]);
  copyFileSync(p('libvictim.clean.so'), p('libvictim.so'));
  for (const v of ['victim', 'victim2']) buildVictim(dir, p(v));
  gcc(['-shared', '-fPIC', '-o', p('libpayload.so'), join(src, 'payload.c')]);
  gcc(['-shared', '-fPIC', '-o', p('libplugin.so'), join(src, 'payload.c')]);
  gcc(['-o', p('injector'), join(src, 'injector.c')]);
  return {
    dir,
    victim: p('victim'),
    victim2: p('victim2'),
    libvictim: p('libvictim.so'),
    libvictimTampered: p('libvictim.tampered.so'),
    libvictimClean: p('libvictim.clean.so'),
    payload: p('libpayload.so'),
    plugin: p('libplugin.so'),
    injector: p('injector'),
  };
}

export class Victim {
  private lines: string[] = [];
  private waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  readonly child: ChildProcessWithoutNullStreams;

  constructor(exe: string, env: Record<string, string> = {}, args: string[] = []) {
    this.child = spawn(exe, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
    let buf = '';
    this.child.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.lines.push(l);
        this.waiters = this.waiters.filter((w) => (w.re.test(l) ? (w.resolve(l), false) : true));
      }
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves with the first stdout line (seen or future) matching `re`; rejects on "fail" or timeout. */
  waitFor(re: RegExp, ms = 10_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`victim ${this.pid}: no ${re} in ${ms} ms; got ${JSON.stringify(this.lines)}`)), ms);
      const failed = (l: string) => l.startsWith('fail');
      this.waiters.push({ re, resolve: (l) => (clearTimeout(t), resolve(l)) });
      this.waiters.push({ re: /^fail/, resolve: (l) => (clearTimeout(t), failed(l) && reject(new Error(`victim: ${l}`))) });
    });
  }

  async ready(): Promise<this> {
    await this.waitFor(/^ready/);
    return this;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await gone;
  }
}

/** Runs the ptrace injector against `pid`; returns its "rwx=… handle=…" line. */
export function ptraceInject(b: Built, pid: number, library: string): string {
  return execFileSync(b.injector, [String(pid), library], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}
