/** Flags shared by `watch` and `learn`: where packets come from, which guest, how to ask it about processes. */
import type { ParseArgsConfig } from 'node:util';
import { UsageError } from './command.js';
import { parseMemorySpec } from '../memory/spec.js';
import type { VmOptions } from '../sensor/sensor.js';

export const sensorFlags = {
  iface: { type: 'string' },
  pcap: { type: 'string' },
  memory: { type: 'string' },
  profile: { type: 'string' },
  'guest-mac': { type: 'string', multiple: true },
  'guest-ip': { type: 'string', multiple: true },
  vm: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

export const sensorFlagsUsage = [
  '  --iface IF        capture live on this host interface (the VM\'s bridge or tap); needs root and libpcap',
  '  --pcap FILE       read a pcap/pcapng capture instead of a live interface',
  '  --memory PATH     guest memory to attribute connections to processes: an image path, live:PATH, qemu:PID[,qmp=',
  '                    SOCKET] (a running QEMU), libvmi:DOMAIN (README "Memory sources"); without it',
  '                    every connection is unattributed and judged by the policy\'s global fallback',
  '  --profile FILE    guest profile (ISF JSON or generated Linux profile) when it cannot be found automatically',
  '  --guest-mac MAC   the guest NIC\'s MAC address (repeatable); marks which side of a packet is the guest',
  '  --guest-ip IP     a guest IPv4/IPv6 address (repeatable); at least one --guest-mac or --guest-ip is required',
  '  --vm NAME         name used in events (default: the interface or file name)',
  '  --json            NDJSON output (the default when stdout is not a terminal)',
];

/** Runs a flag parser, turning its errors into usage errors (exit code 2). */
export function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export interface SensorSource {
  /** With --memory, the guest is opened and walked on a worker thread of the sensor's (never on the event loop). */
  vm: VmOptions;
  pcap: string | undefined;
}

export function sensorSource(v: { iface?: string; pcap?: string; memory?: string; profile?: string; 'guest-mac'?: string[]; 'guest-ip'?: string[]; vm?: string }): SensorSource {
  if (!v.iface === !v.pcap) throw new UsageError('give exactly one of --iface or --pcap');
  const macs = v['guest-mac'] ?? [];
  const ips = v['guest-ip'] ?? [];
  if (macs.length === 0 && ips.length === 0) throw new UsageError('give the guest\'s --guest-mac and/or --guest-ip');
  if (v.profile && !v.memory) throw new UsageError('--profile needs --memory');
  const name = v.vm ?? v.iface ?? v.pcap!.replace(/^.*\//, '');
  const vm: VmOptions = { name, guest: { macs, ips }, iface: v.iface };
  if (v.memory) {
    parseMemorySpec(v.memory); // a malformed source string is a usage error now, not a worker's failure later
    vm.memory = v.memory;
    vm.introspection = { profile: v.profile };
  }
  return { vm, pcap: v.pcap };
}

/** "10m", "30s", "1h", "500ms", or plain seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UsageError(`bad duration ${JSON.stringify(text)} (use e.g. 30s, 10m, 1h)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000);
}
