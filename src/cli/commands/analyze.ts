/**
 * `parasight analyze`: one-shot look at a guest memory image — the guest's processes, connections and sockets,
 * each connection and socket with the name of the process that owns it.
 */
import { parseArgs } from 'node:util';
import { openMemory } from '../../memory/open.js';
import { parseMemorySpec } from '../../memory/spec.js';
import { openIntrospector } from '../../introspect/open.js';
import { WindowsIntrospector } from '../../introspect/windows/introspector.js';
import type { GuestIntrospector, GuestProcess, Problem } from '../../introspect/types.js';
import { UsageError, type Command } from '../command.js';
import { createSensor } from '../../sensor/sensor.js';
import type { SensorEvent } from '../../events/event.js';
import { eventLine } from './watch.js';
import { fileProgress, statusLine } from '../progress.js';
import { viewReport, viewText } from './analyze-views.js';

const USAGE = [
  'usage: parasight analyze --memory PATH [--profile FILE] [--dtb ADDR] [--kdbg ADDR] [--json]',
  '                         [--processes] [--modules] [--vads] [--findings]',
  '                         [--pcap FILE [--rules FILE] [--guest-ip IP]... [--guest-mac MAC]...]',
  '',
  '  --memory PATH    guest physical memory: raw image (.raw/.vmem/.mem), ELF core, LiME; or live:PATH (QEMU RAM',
  '                   file), qemu:PID[,qmp=SOCKET] (running QEMU), libvmi:DOMAIN (see README "Memory sources")',
  '  --profile FILE   structure profile (Volatility 3 ISF .json/.json.xz) instead of the built-in choice',
  '  --dtb ADDR       kernel page-table root (CR3, physical; hex with 0x or decimal) when known: skips the scan',
  '  --kdbg ADDR      Windows KDBG virtual address when known',
  '  --json           one JSON document instead of tables',
  '  --processes      also scan physical memory for process objects (pool tags): hidden and exited ones',
  '  --modules        each process\'s modules from its three PEB loader lists, and image mappings none names',
  '  --vads           each process\'s memory map (VADs: range, protection, private or mapped file)',
  '  --findings       injected code (executable+writable memory with content), hidden processes, modules the',
  '                   loader lists disagree on, connections unlinked from the tcpip.sys tables; exit 1 if any',
  '  --pcap FILE      also run the VM sensor over this capture (pcap/pcapng) against the image: every connection',
  '                   in it with its owner, as sensor events ("events" in the JSON document); on a terminal,',
  '                   progress reading it is shown on stderr',
  '  --rules FILE     policy for --pcap (default: allow everything, so only ownership is reported)',
  '  --guest-ip IP    the guest\'s address (repeatable); default: the local addresses of the image\'s sockets',
  '  --guest-mac MAC  the guest\'s MAC (repeatable)',
  '',
  'Exit codes: 0 report printed, 1 the capture holds connections the policy denies (or --findings found some),',
  '2 usage or input error',
  '(unreadable image, no supported kernel found).',
].join('\n');

function address(text: string | undefined, flag: string): bigint | undefined {
  if (text === undefined) return undefined;
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text.trim())) throw new UsageError(`${flag} must be an address (0x... or decimal), got ${JSON.stringify(text)}`);
  return BigInt(text.trim());
}

const hex = (v: bigint | undefined): string | undefined => (v === undefined ? undefined : `0x${v.toString(16)}`);
const iso = (ms: number | undefined): string => (ms ? new Date(ms).toISOString().replace('.000Z', 'Z') : '');

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => '  ' + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function problemLines(problems: Problem[]): string[] {
  return problems.map((p) => `  [${p.walk ?? '-'}] ${p.code}: ${p.message}`);
}

export function report(g: GuestIntrospector): Record<string, unknown> {
  const info = g.info();
  const procs = g.processes({ paths: true });
  const conns = g.connections();
  const socks = g.sockets();
  const byPid = new Map<number, GuestProcess>();
  for (const p of procs.items) if (!byPid.has(p.pid) || p.exitTime === undefined) byPid.set(p.pid, p);
  const owner = (pid: number): string | null => byPid.get(pid)?.name ?? null;
  const w = g instanceof WindowsIntrospector ? g : undefined;
  const problems = [
    ...info.problems,
    ...(w ? w.modules().problems : []),
    ...procs.problems,
    ...conns.problems,
    ...(socks.problems === conns.problems ? [] : socks.problems),
  ];
  return {
    guest: { ...info, dtb: hex(info.dtb), kernelBase: hex(info.kernelBase), kaslrSlide: hex(info.kaslrSlide), problems: undefined },
    ...(w
      ? {
          discovery: {
            dtbFoundBy: w.discovery.dtbFoundBy,
            kdbg: hex(w.discovery.kdbg),
            kdbgFoundBy: w.discovery.kdbgFoundBy,
            versionBlock: hex(w.discovery.versionBlock),
            build: w.discovery.build,
            ntBuildLab: w.discovery.ntBuildLab,
          },
          tcpip: {
            ...w.tcpip,
            module: w.tcpip.module && { ...w.tcpip.module, base: hex(w.tcpip.module.base) },
            tcb: w.tcpip.tcb && { ...w.tcpip.tcb, table: hex(w.tcpip.tcb.table), variable: hex(w.tcpip.tcb.variable) },
            addr: w.tcpip.addr && { ...w.tcpip.addr, table: hex(w.tcpip.addr.table), variable: hex(w.tcpip.addr.variable) },
          },
          modules: w.modules().items.map((m) => ({ name: m.name, path: m.path, base: hex(m.base), size: m.size })),
        }
      : {}),
    processes: procs.items.map((p) => ({
      pid: p.pid,
      ppid: p.ppid,
      name: p.name,
      path: p.path ?? null,
      createTime: p.createTimeBase === 'epoch' ? iso(p.createTime) || null : p.createTime,
      exitTime: p.exitTime !== undefined ? iso(p.exitTime) : null,
      address: hex(p.address),
      dtb: hex(p.dtb),
    })),
    connections: conns.items.map((c) => ({
      proto: c.proto,
      localAddress: c.localAddress,
      localPort: c.localPort,
      remoteAddress: c.remoteAddress,
      remotePort: c.remotePort,
      state: c.state,
      pid: c.pid,
      owner: owner(c.pid),
      address: hex(c.address),
      foundBy: c.foundBy,
    })),
    sockets: [
      ...socks.items.map((s) => ({
        proto: s.proto,
        localAddress: s.localAddress,
        localPort: s.localPort,
        pid: s.pid,
        owner: owner(s.pid),
        createTime: s.createTime ? iso(s.createTime) : null,
        address: hex(s.address),
      })),
      ...(w?.otherSockets() ?? []).map((s) => ({
        proto: s.protocol,
        localAddress: s.localAddress,
        localPort: s.localPort,
        pid: s.pid,
        owner: owner(s.pid),
        createTime: s.createTime ? iso(s.createTime) : null,
        address: hex(s.address),
      })),
    ],
    problems: problems.map((p) => ({ ...p, address: hex(p.address) })),
  };
}

function text(r: ReturnType<typeof report>): string {
  const g = r.guest as Record<string, string>;
  const d = r.discovery as Record<string, string> | undefined;
  const procs = r.processes as Array<Record<string, string | number | null>>;
  const conns = r.connections as Array<Record<string, string | number | null>>;
  const socks = r.sockets as Array<Record<string, string | number | null>>;
  const problems = r.problems as Problem[];
  const out: string[] = [];
  out.push(`${g.os} ${g.version}  profile ${g.profile}  paging ${g.paging}  DTB ${g.dtb}  kernel ${g.kernelBase}${d?.kdbg && d.kdbg !== '0x0' ? `  KDBG ${d.kdbg} (${d.kdbgFoundBy})` : ''}`);
  out.push('', `Processes (${procs.length})`);
  out.push(table([['PID', 'PPID', 'Name', 'Created', 'Exited', 'Path'], ...procs.map((p) => [String(p.pid), String(p.ppid), String(p.name), String(p.createTime ?? ''), String(p.exitTime ?? ''), String(p.path ?? '')])]));
  out.push('', `Connections (${conns.length})`);
  if (conns.length) {
    out.push(table([['Proto', 'Local', 'Remote', 'PID', 'Owner'], ...conns.map((c) => [String(c.proto), `${c.localAddress}:${c.localPort}`, `${c.remoteAddress}:${c.remotePort}`, String(c.pid), String(c.owner ?? '?')])]));
  }
  out.push('', `Sockets (${socks.length})`);
  if (socks.length) {
    out.push(table([['Proto', 'Local', 'PID', 'Owner', 'Created'], ...socks.map((s) => [String(s.proto), `${s.localAddress}:${s.localPort}`, String(s.pid), String(s.owner ?? '?'), String(s.createTime ?? '')])]));
  }
  if (problems.length) out.push('', `Problems (${problems.length})`, ...problemLines(problems));
  return out.join('\n') + '\n';
}

/** Runs the VM sensor over a capture with this guest's introspector; the events, in order. */
async function capturedEvents(g: GuestIntrospector, pcap: string, rules: string | undefined, ips: string[] | undefined, macs: string[] | undefined): Promise<SensorEvent[]> {
  let guestIps = ips ?? [];
  if (guestIps.length === 0 && (macs ?? []).length === 0) {
    // The guest's own addresses are the local addresses its sockets are bound to.
    const local = [...g.connections().items.map((c) => c.localAddress), ...g.sockets().items.map((s) => s.localAddress)];
    guestIps = [...new Set(local.filter((a) => !/^(0\.0\.0\.0|::|::1|127\..*|::ffff:127\..*)$/.test(a)))];
    if (guestIps.length === 0) throw new UsageError('the image has no bound guest address: give --guest-ip or --guest-mac');
  }
  const sensor = createSensor({
    policy: rules ?? { version: 1 },
    watchPolicy: false,
    emitAllowed: true,
    vms: [{ name: pcap.replace(/^.*\//, ''), guest: { ips: guestIps, macs: macs ?? [] }, introspector: g, closeIntrospector: false }],
  });
  const events: SensorEvent[] = [];
  sensor.on('event', (e) => events.push(e));
  try {
    const progress = fileProgress(`reading ${pcap}`);
    try {
      await sensor.readPcap(pcap, undefined, { onProgress: progress?.update });
    } finally {
      progress?.done();
    }
    await sensor.settle();
  } finally {
    sensor.close();
  }
  return events;
}

function eventsText(events: SensorEvent[]): string {
  return ['', `Connections in the capture (${events.length} events)`, ...events.map((e) => '  ' + eventLine(e)), ''].join('\n');
}

export const analyze: Command = {
  name: 'analyze',
  summary: 'one-shot report of a guest memory image: processes, connections and sockets with their owners',
  usage: USAGE,
  async run(argv) {
    let values: { memory?: string; profile?: string; dtb?: string; kdbg?: string; json?: boolean; processes?: boolean; modules?: boolean; vads?: boolean; findings?: boolean; pcap?: string; rules?: string; 'guest-ip'?: string[]; 'guest-mac'?: string[] };
    try {
      ({ values } = parseArgs({
        args: argv,
        options: {
          memory: { type: 'string' },
          profile: { type: 'string' },
          dtb: { type: 'string' },
          kdbg: { type: 'string' },
          json: { type: 'boolean' },
          processes: { type: 'boolean' },
          modules: { type: 'boolean' },
          vads: { type: 'boolean' },
          findings: { type: 'boolean' },
          pcap: { type: 'string' },
          rules: { type: 'string' },
          'guest-ip': { type: 'string', multiple: true },
          'guest-mac': { type: 'string', multiple: true },
        },
        strict: true,
        allowPositionals: false,
      }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (!values.memory) throw new UsageError('--memory is required');
    if (!values.pcap && (values.rules || values['guest-ip'] || values['guest-mac'])) throw new UsageError('--rules, --guest-ip and --guest-mac go with --pcap');
    const dtb = address(values.dtb, '--dtb');
    const kdbg = address(values.kdbg, '--kdbg');
    const mem = await openMemory(parseMemorySpec(values.memory));
    try {
      // Finding the kernel can scan the whole image (seconds for a Linux guest without a profile).
      const cleared = statusLine(`finding the guest kernel in ${values.memory}`);
      let g: GuestIntrospector;
      try {
        g = openIntrospector(mem, {
          ...(values.profile !== undefined ? { profile: values.profile } : {}),
          ...(dtb !== undefined ? { dtb } : {}),
          ...(kdbg !== undefined ? { kdbg } : {}),
        });
      } finally {
        cleared();
      }
      try {
        const r = report(g);
        const views = viewReport(g, { processes: values.processes, modules: values.modules, vads: values.vads, findings: values.findings });
        Object.assign(r, views.doc);
        if (views.problems.length) r.problems = [...(r.problems as Problem[]), ...views.problems.map((p) => ({ ...p, address: p.address === undefined ? undefined : `0x${p.address.toString(16)}` }))];
        const events = values.pcap ? await capturedEvents(g, values.pcap, values.rules, values['guest-ip'], values['guest-mac']) : undefined;
        if (events) r.events = events;
        process.stdout.write(values.json ? JSON.stringify(r, null, 2) + '\n' : text(r) + viewText(views.doc) + (events ? eventsText(events) : ''));
        return events?.some((e) => e.verdict === 'deny') || (values.findings && views.findings > 0) ? 1 : 0;
      } finally {
        g.close();
      }
    } finally {
      mem.close();
    }
  },
};
