/**
 * `parasight watch`: the VM sensor on the command line. Live on an interface (until SIGINT/SIGTERM) or over a
 * capture file. NDJSON events when piped or --json, readable lines on a terminal. SIGHUP reloads the policy file.
 */
import { pino } from 'pino';
import { UsageError, EXIT_FINDINGS, EXIT_OK, type Command } from '../command.js';
import { parseArgs } from 'node:util';
import { createSensor } from '../../sensor/sensor.js';
import { ParasightError } from '../../errors.js';
import { NdjsonWriter } from '../../events/stream.js';
import type { SensorEvent } from '../../events/event.js';
import { fileProgress } from '../progress.js';
import { usage, parseDuration, sensorFlags, sensorFlagsUsage, sensorSource } from '../sensor-args.js';

export function eventLine(e: SensorEvent): string {
  const who = e.process ? `${e.process.name}[${e.process.pid}]` : `(${e.attribution.outcome})`;
  const f = e.flow ? `${e.flow.direction} ${e.flow.proto} ${e.flow.local}:${e.flow.lport} -> ${e.flow.remote}:${e.flow.rport}` : '';
  const count = e.count > 1 ? ` x${e.count}` : '';
  return `${e.ts} ${e.type.padEnd(20)} ${e.vm} ${who} ${f} ${e.verdict} (${e.rule})${count}: ${e.reason}`;
}

export const watch: Command = {
  name: 'watch',
  summary: 'watch a VM\'s traffic and report processes that break their policy',
  usage: [
    'usage: parasight watch (--iface IF | --pcap FILE) --rules FILE (--guest-mac MAC | --guest-ip IP)...',
    '                       [--memory PATH [--profile FILE]] [--json] [--metrics PORT] [--allowed] [--duration D] [--enforce]',
    '',
    ...sensorFlagsUsage,
    '  --rules FILE      policy file (YAML or JSON); reloaded on change and on SIGHUP',
    '  --allowed         also report allowed connections (connection.allowed events)',
    '  --metrics PORT    serve Prometheus metrics on http://127.0.0.1:PORT/metrics',
    '  --duration D      stop after D (e.g. 30s, 10m) instead of running until SIGINT/SIGTERM',
    '  --enforce         drop what a process\'s own policy forbids at the bridge (nftables table "bridge parasight",',
    '                    removed on exit; after a crash: nft delete table bridge parasight). Needs root, live',
    '                    capture, and runs in the bridge\'s network namespace. The first abnormal packets are already out.',
    '',
    'exit status: 0 nothing abnormal, 1 abnormal connections or parasitized processes seen, 2 usage or input error',
  ].join('\n'),
  async run(argv) {
    const { values: v } = usage(() =>
      parseArgs({
        args: argv,
        strict: true,
        options: {
          ...sensorFlags,
          rules: { type: 'string' },
          allowed: { type: 'boolean' },
          metrics: { type: 'string' },
          duration: { type: 'string' },
          enforce: { type: 'boolean' },
        },
      }),
    );
    if (!v.rules) throw new UsageError('--rules FILE is required');
    if (v.enforce && !v.iface) throw new UsageError('--enforce needs live capture (--iface)');
    const metricsPort = v.metrics === undefined ? undefined : Number(v.metrics);
    if (metricsPort !== undefined && !(Number.isInteger(metricsPort) && metricsPort > 0 && metricsPort < 65536)) throw new UsageError('--metrics needs a port number');
    const durationMs = v.duration ? parseDuration(v.duration) : undefined;
    const src = sensorSource(v);
    const json = v.json === true || !process.stdout.isTTY;
    const sensor = createSensor({ policy: v.rules, vms: [src.vm], emitAllowed: v.allowed === true, enforce: v.enforce === true });
    const ndjson = new NdjsonWriter(process.stdout);
    let findings = 0;
    sensor.on('event', (e) => {
      if (e.verdict === 'deny') findings++;
      if (json) ndjson.write(e);
      else process.stdout.write(eventLine(e) + '\n');
    });
    // Operational logs: JSON lines on stderr (events go to stdout).
    const log = pino({ name: 'parasight-watch', base: undefined }, process.stderr);
    // A capture whose interface went away ends the watch (after the summary), with that error.
    let captureLost: ParasightError | undefined;
    let stopWatching: (() => void) | undefined;
    sensor.on('error', (e) => {
      // Only this VM's capture says SOURCE_GONE with its interface as the source (a guest memory source can be gone too).
      if (e instanceof ParasightError && e.code === 'SOURCE_GONE' && src.vm.iface !== undefined && e.source === src.vm.iface) {
        captureLost = e;
        log.error({ err: e.message }, 'capture stopped');
        stopWatching?.();
        return;
      }
      log.error({ err: e.message }, 'sensor error (a failed policy reload keeps the previous policy)');
    });
    sensor.on('policy-reloaded', (g) => log.info({ generation: g }, 'policy reloaded'));
    // Logged once packets are being kept: live, after the capture handle is active (a caller that waits for this
    // line and then makes traffic must not race the ring's setup, which takes a while under load).
    const watching = (): void =>
      log.info({ vm: src.vm.name, iface: src.vm.iface ?? null, pcap: src.pcap ?? null, enforce: v.enforce === true, memory: src.vm.memory ?? null }, 'watching');
    if (metricsPort !== undefined) {
      try {
        await sensor.serveMetrics(metricsPort);
      } catch (e) {
        await sensor.close();
        throw new UsageError(`--metrics ${metricsPort}: ${(e as Error).message}`);
      }
    }
    const onHup = (): void => void sensor.reloadPolicy();
    process.on('SIGHUP', onHup);
    try {
      if (src.pcap) {
        watching();
        const progress = fileProgress(`reading ${src.pcap}`);
        await sensor.readPcap(src.pcap, undefined, { onProgress: progress?.update });
        progress?.done();
        // The guest opens on a worker while the capture is read; its flows wait for the first walk.
        await sensor.ready();
        await sensor.settle();
      } else {
        // The signal handlers come first: a caller may stop us as soon as it reads "watching".
        const stopped = new Promise<void>((resolve) => {
          const stop = (): void => resolve();
          stopWatching = stop;
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          if (durationMs !== undefined) setTimeout(stop, durationMs).unref();
        });
        // Capture starts at once; discovery runs on a worker meanwhile (a guest that cannot be opened ends the run).
        sensor.start();
        watching();
        const openedAt = Date.now();
        const ready = sensor.ready();
        // When attribution can start: a slow or stuck guest open is then visible in the log, not only as silence.
        ready.then(() => log.info({ ms: Date.now() - openedAt }, 'guest open and walked once: attribution running'), () => {});
        await Promise.race([ready, stopped]);
        await stopped;
      }
    } finally {
      process.off('SIGHUP', onHup);
      const m = sensor.metrics();
      await sensor.close();
      const vm = m.vms[0]!;
      log.info(
        {
          packets: vm.decode.frames,
          malformed: vm.decode.malformed,
          captureReceived: vm.capture?.received ?? null,
          captureDropped: vm.capture?.dropped ?? null,
          flows: vm.flows.created,
          attribution: vm.attribution.outcomes,
          events: m.events.emitted,
          eventsDropped: m.events.dropped,
          enforcement: m.enforcement ?? null,
        },
        `${vm.decode.frames} packets (${vm.decode.malformed} malformed), ${vm.flows.created} flows, ${m.events.emitted} events`,
      );
    }
    if (captureLost) throw captureLost;
    return findings > 0 ? EXIT_FINDINGS : EXIT_OK;
  },
};
