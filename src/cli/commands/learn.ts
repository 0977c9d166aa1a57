/**
 * `parasight learn`: watch a clean period and write proposed rules (default-deny + learned allow rules) for the
 * single-purpose programs seen, in the policy format, for a person to review.
 */
import { writeFileSync } from 'node:fs';
import { UsageError, EXIT_OK, type Command } from '../command.js';
import { parseArgs } from 'node:util';
import { createSensor } from '../../sensor/sensor.js';
import { Learner } from '../../rules/learn.js';
import { usage, parseDuration, sensorFlags, sensorFlagsUsage, sensorSource } from '../sensor-args.js';

export const learn: Command = {
  name: 'learn',
  summary: 'learn allow rules for single-purpose programs from a clean period',
  usage: [
    'usage: parasight learn (--iface IF --duration D | --pcap FILE) (--guest-mac MAC | --guest-ip IP)...',
    '                       --memory PATH [--profile FILE] --out FILE [--max-peers N] [--max-ports N]',
    '',
    ...sensorFlagsUsage,
    '  --duration D      how long to watch a live interface (e.g. 10m)',
    '  --out FILE        where to write the proposed policy (YAML); review it before use',
    '  --max-peers N     programs talking to more peers are not single-purpose and get no rules (default 4)',
    '  --max-ports N     ... or using more distinct ports (default 3)',
  ].join('\n'),
  async run(argv) {
    const { values: v } = usage(() =>
      parseArgs({
        args: argv,
        strict: true,
        options: {
          ...sensorFlags,
          duration: { type: 'string' },
          out: { type: 'string' },
          'max-peers': { type: 'string' },
          'max-ports': { type: 'string' },
        },
      }),
    );
    if (!v.out) throw new UsageError('--out FILE is required');
    if (!v.memory) throw new UsageError('--memory PATH is required: learning needs to know which process made each connection');
    if (v.iface && !v.duration) throw new UsageError('--duration is required with --iface');
    const int = (s: string | undefined, name: string, dflt: number): number => {
      if (s === undefined) return dflt;
      const n = Number(s);
      if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} needs a positive integer`);
      return n;
    };
    const learner = new Learner({ maxPeers: int(v['max-peers'], '--max-peers', 4), maxPorts: int(v['max-ports'], '--max-ports', 3) });
    const durationMs = v.duration ? parseDuration(v.duration) : 0;
    const src = sensorSource(v);
    // Everything is allowed while learning: the events carry each connection's owner.
    const sensor = createSensor({ policy: { version: 1, default: { mode: 'default-allow' } }, vms: [src.vm], emitAllowed: true, watchPolicy: false });
    sensor.on('event', (e) => {
      if (!e.process || !e.flow || (e.flow.proto !== 'tcp' && e.flow.proto !== 'udp')) return;
      learner.observe({ name: e.process.name, path: e.process.path ?? undefined, direction: e.flow.direction, proto: e.flow.proto, remote: e.flow.remote, rport: e.flow.rport, lport: e.flow.lport });
    });
    try {
      if (src.pcap) {
        await sensor.readPcap(src.pcap);
        await sensor.ready();
        await sensor.settle();
      } else {
        sensor.start();
        const stopped = new Promise<void>((resolve) => {
          setTimeout(resolve, durationMs);
          process.once('SIGINT', resolve);
        });
        const ready = sensor.ready();
        ready.catch(() => {}); // seen by the race below, or moot once stopped
        await Promise.race([ready, stopped]);
        await stopped;
      }
    } finally {
      await sensor.close();
    }
    writeFileSync(v.out, learner.toYaml());
    const r = learner.result();
    process.stderr.write(`parasight learn: rules for ${r.learned.length} program(s) written to ${v.out}; ${r.skipped.length} skipped as not single-purpose\n`);
    return EXIT_OK;
  },
};
