/**
 * `parasight demo` live: boots the Linux lab guest under QEMU, runs `parasight watch` on its tap (in the lab's network
 * namespace: that is where the tap lives), lets a clean guest program use the one destination its policy allows, then
 * injects code into that running program from inside the guest (a ptrace injector makes it dlopen a library whose
 * constructor reaches elsewhere) — and shows the sensor catching it.
 *
 * The lab itself (QEMU, namespace, tap, guest image) is test tooling in a source checkout (test/lab/lab.mjs, prepared by
 * .ci/setup); the published package does not ship it, so live mode is looked up at run time and its absence is a
 * reason to fall back, not an error.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { QmpClient } from '../memory/qmp.js';
import type { Evidence, SensorEvent } from '../events/event.js';

/** The slice of the lab (test/lab/lab.mjs) the live demo drives. */
interface Lab {
  readonly netns: string;
  readonly ramPath: string | undefined;
  readonly qmpPath: string;
  readonly accel: string;
  readonly kernelVersion: string;
  readonly hostV4: string;
  readonly hostV6: string;
  readonly guestV4: string;
  readonly guestV6: string;
  readonly peerPort: number;
  run(command: string, timeoutMs?: number): Promise<string>;
  spawn(argv: string[], options?: { as?: string }): Promise<{ pid: number; localPort: number | undefined }>;
  truth(): Promise<unknown>;
  stop(): Promise<void>;
  stopSync(): void;
}

interface LabModule {
  labUnavailable(): string | undefined;
  startLab(options: { memory: 'shm'; kaslr: boolean }): Promise<Lab>;
}

const labUrl = new URL('../../test/lab/lab.mjs', import.meta.url);
// The sensor runs as `parasight watch` from this same build.
const cliMain = fileURLToPath(new URL('main.js', import.meta.url));

/** The lab module, or why live mode cannot run here. */
export async function loadLab(): Promise<LabModule | string> {
  if (!existsSync(fileURLToPath(labUrl))) {
    return 'live mode needs a source checkout of parasight with the prepared lab (bash .ci/setup); this installation has no test/lab';
  }
  if (!existsSync(cliMain)) return 'live mode runs from the built command line (npm run build, then node dist/cli/main.js demo)';
  const lab = (await import(pathToFileURL(fileURLToPath(labUrl)).href)) as LabModule;
  return lab.labUnavailable() ?? lab;
}

export interface LiveOptions {
  json: boolean;
  /** Keep the capture, a memory dump taken while the injected connection is open, the policy and the guest's own view. */
  keep?: string;
}

/** The program the demo injects into, the library it injects, and the names of what it keeps. */
const PROGRAM = 'updater';
const PAYLOAD = '/bin/parasite.so';
export const KEPT = { capture: 'capture.pcap', memory: 'memory.elf', policy: 'policy.yaml', truth: 'guest-truth.json', events: 'events.ndjson' };

class Narrator {
  private ticker: NodeJS.Timeout | undefined;
  private readonly started = Date.now();
  constructor(private readonly json: boolean) {}
  /** A line of the story (stdout, text mode only). */
  say(text = ''): void {
    this.stopWaiting();
    if (!this.json) process.stdout.write(text + '\n');
  }
  /** "what is happening: N s" on stderr while waiting, on a terminal; a plain line otherwise (text mode). */
  waiting(what: string): void {
    this.stopWaiting();
    const t0 = Date.now();
    if (process.stderr.isTTY) {
      const draw = (): void => void process.stderr.write(`\r${what}: ${((Date.now() - t0) / 1000).toFixed(0)} s\x1b[K`);
      draw();
      this.ticker = setInterval(draw, 1000);
      this.ticker.unref();
    } else if (!this.json) {
      process.stdout.write(`${what} ...\n`);
    }
  }
  stopWaiting(): void {
    if (!this.ticker) return;
    clearInterval(this.ticker);
    this.ticker = undefined;
    process.stderr.write('\r\x1b[K');
  }
  elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1)} s`;
  }
}

/** The watch child's NDJSON events, with waiting for one. */
class EventFeed {
  readonly events: SensorEvent[] = [];
  readonly log: string[] = [];
  private wake: Array<() => void> = [];
  exited: number | null | undefined;
  constructor(child: ChildProcess, onEvent: (e: SensorEvent) => void) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const e = JSON.parse(line) as SensorEvent;
      this.events.push(e);
      onEvent(e);
      this.notify();
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      this.log.push(line);
      if (this.log.length > 200) this.log.shift();
      this.notify();
    });
    child.on('exit', (code) => {
      this.exited = code;
      this.notify();
    });
  }
  private notify(): void {
    for (const w of this.wake.splice(0)) w();
  }
  async until<T>(find: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = find();
      if (hit !== undefined) return hit;
      if (this.exited !== undefined) throw new Error(`the sensor exited (${this.exited}) while waiting for ${what}:\n${this.log.slice(-10).join('\n')}`);
      if (Date.now() > end) throw new Error(`no ${what} after ${timeoutMs / 1000} s; sensor log:\n${this.log.slice(-10).join('\n')}`);
      await new Promise<void>((r) => {
        this.wake.push(r);
        setTimeout(r, 250).unref();
      });
    }
  }
}

function policyText(lab: Lab): string {
  return [
    'version: 1',
    'processes:',
    `  - name: ${PROGRAM}`,
    '    mode: default-deny',
    '    rules:',
    `      - { direction: outbound, proto: tcp, remote: ${lab.hostV4}, rport: ${lab.peerPort}, comment: its update server }`,
    '',
  ].join('\n');
}

function describe(e: SensorEvent): string {
  const f = e.flow;
  const where = f ? `${f.proto} ${f.local}:${f.lport} -> ${f.remote.includes(':') ? `[${f.remote}]` : f.remote}:${f.rport}` : '';
  return `${e.process ? `${e.process.name}[${e.process.pid}]` : '(unattributed)'} ${where}`;
}

function evidenceText(ev: Evidence): string {
  const f = ev as Record<string, unknown>;
  if (ev.kind === 'connection') {
    const flow = f.flow as SensorEvent['flow'];
    return `connection ${flow ? `${flow.direction} ${flow.proto} ${flow.local}:${flow.lport} -> ${flow.remote}:${flow.rport}` : '?'}, first packet ${String(f.first_seen)}, ${String(f.verdict)} by ${String(f.rule)}`;
  }
  if (ev.kind === 'policy') {
    return `policy "${String(f.policy)}": ${Number(f.rule_index) < 0 ? 'no rule allows it (mode default-deny)' : `rule ${String(f.rule)}`}${f.learned ? ' (learned)' : ''}`;
  }
  if (ev.kind === 'process') {
    const created = f.create_time_base === 'boot' ? `${(Number(f.create_time) / 1000).toFixed(1)} s after guest boot` : new Date(Number(f.create_time)).toISOString();
    return `process ${String(f.name)} pid ${String(f.pid)} (parent ${String(f.ppid)}), path ${String(f.path ?? 'not read')}, started ${created}`;
  }
  return JSON.stringify(ev);
}

function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null || !child.pid) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill(signal);
  });
}

/** Runs the live scenario; 0 when exactly the expected detection happened, 1 otherwise. */
export async function runLive(labModule: LabModule, opts: LiveOptions): Promise<number> {
  const n = new Narrator(opts.json);
  const work = mkdtempSync(join(tmpdir(), 'parasight-demo-live-'));
  let lab: Lab | undefined;
  let sensor: ChildProcess | undefined;
  let tcpdump: ChildProcess | undefined;
  let sensorFeed: EventFeed | undefined;
  // Ctrl-C (or a kill) at any point: the guest, its tap and namespace, and our children go too.
  const teardownSync = (): void => {
    n.stopWaiting();
    for (const c of [sensor, tcpdump]) if (c?.pid && c.exitCode === null) c.kill('SIGKILL');
    lab?.stopSync();
    rmSync(work, { recursive: true, force: true });
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    process.stderr.write(`\nparasight demo: ${sig}: stopping the guest and removing its network namespace\n`);
    teardownSync();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    n.say('parasight demo (live): a Linux guest under QEMU, watched from the host. Every new connection on the guest\'s');
    n.say('tap is attributed to its guest process by reading the guest\'s RAM from outside (no agent in the guest), and');
    n.say('checked against that program\'s policy.');
    n.say();
    n.waiting('booting the lab guest under QEMU');
    lab = await labModule.startLab({ memory: 'shm', kaslr: true });
    n.say(`guest up after ${n.elapsed()}: Linux ${lab.kernelVersion} (KASLR on), QEMU ${lab.accel}, RAM shared at ${lab.ramPath}`);
    n.say(`network: tap0 on a bridge in namespace ${lab.netns}; guest ${lab.guestV4} / ${lab.guestV6}, host ${lab.hostV4} / ${lab.hostV6}`);

    const policy = join(work, KEPT.policy);
    writeFileSync(policy, policyText(lab));
    n.say();
    n.say(`policy: ${PROGRAM} may open one kind of connection, TCP to ${lab.hostV4}:${lab.peerPort}; everything else it does is denied:`);
    for (const line of policyText(lab).trimEnd().split('\n')) n.say(`  | ${line}`);

    n.say();
    n.waiting('starting the sensor (parasight watch on tap0): finding the guest kernel in its RAM');
    sensor = spawn('ip', ['netns', 'exec', lab.netns, process.execPath, cliMain, 'watch', '--iface', 'tap0', '--memory', `live:${lab.ramPath}`,
      '--rules', policy, '--guest-ip', lab.guestV4, '--guest-ip', lab.guestV6, '--vm', 'lab', '--allowed', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const feed = new EventFeed(sensor, (e) => {
      if (opts.json) process.stdout.write(JSON.stringify(e) + '\n');
    });
    sensorFeed = feed;
    await feed.until(() => feed.log.find((l) => l.includes('"msg":"watching"')), 'sensor start', 120_000);
    n.say(`sensor watching (${n.elapsed()}): live capture on tap0, guest RAM read through live:${lab.ramPath}`);
    // The guest program starts once the sensor knows the guest kernel: its first connection then shows what an
    // attribution costs, not how long finding the kernel took (flows seen meanwhile would wait for it, not be lost).
    const readyLine = await feed.until(() => feed.log.find((l) => l.includes('attribution running')), 'the guest kernel found in its RAM', 120_000);
    const openMs = (JSON.parse(readyLine) as { ms?: number }).ms;
    n.say(`guest kernel found in its RAM and walked once, with no symbol files, in ${openMs ?? '?'} ms`);
    // Recording starts after the sensor and stops before it: every packet in the file was also seen live.
    if (opts.keep) {
      mkdirSync(opts.keep, { recursive: true });
      tcpdump = spawn('ip', ['netns', 'exec', lab.netns, 'tcpdump', '-i', 'tap0', '-n', '-U', '-s', '0', '-w', join(opts.keep, KEPT.capture)], { stdio: ['ignore', 'ignore', 'pipe'] });
      await new Promise<void>((resolve, reject) => {
        let err = '';
        tcpdump!.stderr!.on('data', (d: Buffer) => {
          err += d.toString();
          if (err.includes('listening on')) resolve();
        });
        tcpdump!.once('exit', (code) => reject(new Error(`tcpdump exited (${code}): ${err.trim()}`)));
        tcpdump!.once('error', reject);
      });
      n.say(`recording the tap with tcpdump into ${join(opts.keep, KEPT.capture)}`);
    }

    n.say();
    n.say(`clean phase: the guest starts ${PROGRAM} (netprog under that name, nothing injected), which connects to its`);
    n.say('  update server and keeps running.');
    await lab.run(`ln -sf /bin/netprog /tmp/${PROGRAM}`);
    const prog = await lab.spawn([`/tmp/${PROGRAM}`, 'tcp-connect', lab.hostV4, String(lab.peerPort)]);
    n.waiting(`waiting for the sensor to attribute ${PROGRAM}'s connection`);
    const allowed = await feed.until(() => feed.events.find((e) => e.process?.pid === prog.pid), `event for ${PROGRAM}'s connection`, 60_000);
    n.say(`  seen:  ${allowed.type} ${describe(allowed)} -> ${allowed.verdict} (${allowed.rule}); attributed in ${allowed.attribution.ms ?? '?'} ms`);

    n.say();
    n.say(`injection: inside the guest, injecting ${PAYLOAD} into running pid ${prog.pid} (${PROGRAM}) with ptrace: the injector attaches,`);
    n.say(`  makes the program call dlopen, and detaches. The library's constructor, now code of ${PROGRAM}, sends a UDP datagram`);
    n.say(`  to [${lab.hostV6}]:${lab.peerPort}, a destination ${PROGRAM}'s policy does not allow.`);
    const injected = (await lab.run(`/bin/injector ${prog.pid} ${PAYLOAD}`)).trim();
    n.say(`  injector: ${injected}`);
    n.waiting('waiting for the sensor');
    const caught = await feed.until(() => feed.events.find((e) => e.type === 'process.parasitized'), 'process.parasitized event', 60_000);
    n.say(`  CAUGHT: ${caught.type} ${describe(caught)} (risk ${caught.risk}, ${caught.ts})`);
    n.say(`  reason: ${caught.reason}`);
    for (const ev of caught.evidence) n.say(`  evidence: ${evidenceText(ev)}`);

    if (opts.keep) {
      // While the injected connection is still open: the guest's own view, then a memory dump for offline replay.
      writeFileSync(join(opts.keep, KEPT.truth), JSON.stringify(await lab.truth(), null, 2) + '\n');
      n.waiting('dumping guest memory (QMP dump-guest-memory)');
      const qmp = await QmpClient.connect(lab.qmpPath);
      try {
        await qmp.execute('dump-guest-memory', { paging: false, protocol: `file:${join(opts.keep, KEPT.memory)}` }, { timeoutMs: 120_000 });
      } finally {
        qmp.close();
      }
      // Let the capture and the sensor see the last packets before both stop.
      await new Promise((r) => setTimeout(r, 500));
      await stopChild(tcpdump, 'SIGINT');
      copyFileSync(policy, join(opts.keep, KEPT.policy));
      writeFileSync(join(opts.keep, KEPT.events), feed.events.map((e) => JSON.stringify(e) + '\n').join(''));
      n.say();
      n.say(`kept in ${opts.keep}: ${Object.values(KEPT).join(', ')}; replay offline with`);
      n.say(`  parasight analyze --memory ${join(opts.keep, KEPT.memory)} --pcap ${join(opts.keep, KEPT.capture)} --rules ${join(opts.keep, KEPT.policy)}`);
    }

    const parasitized = feed.events.filter((e) => e.type === 'process.parasitized');
    const ok = parasitized.length === 1 && caught.process?.pid === prog.pid && caught.process.name === PROGRAM && allowed.verdict === 'allow';
    n.say();
    n.say(ok
      ? `done in ${n.elapsed()}: the injected code was caught in ${PROGRAM} (pid ${prog.pid}); its legitimate connection passed.`
      : `done in ${n.elapsed()}: NOT the expected outcome (${parasitized.length} process.parasitized event(s); allowed connection: ${allowed.verdict}).`);
    return ok ? 0 : 1;
  } catch (e) {
    // A guest that did not boot, a sensor that died, an event that never came: say so, with what is known.
    n.stopWaiting();
    process.stderr.write(`parasight demo: the live run failed after ${n.elapsed()}: ${e instanceof Error ? e.message : String(e)}\n`);
    const feed = sensorFeed;
    if (feed && sensor) {
      // The sensor's closing summary (packets, flows, attribution outcomes) and the events it did emit say where it
      // stopped: no packets, no flow, or a flow whose owner was not found.
      await stopChild(sensor, 'SIGTERM');
      process.stderr.write(`sensor log (last lines):\n${feed.log.slice(-6).join('\n')}\n`);
      process.stderr.write(`events emitted: ${feed.events.length ? feed.events.map((x) => `${x.type} ${describe(x)} ${x.attribution.outcome} (${x.attribution.reason ?? ''})`).join('; ') : 'none'}\n`);
    }
    return 1;
  } finally {
    n.stopWaiting();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopChild(sensor, 'SIGTERM');
    await stopChild(tcpdump, 'SIGINT');
    await lab?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
