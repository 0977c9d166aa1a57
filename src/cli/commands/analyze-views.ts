/**
 * The optional in-depth views of `parasight analyze` (Windows guests): --processes (pool-tag scan beside the
 * active list), --modules (PEB loader lists, ldrmodules), --vads (each process's memory map), --findings (injected
 * code, hidden processes, modules the loader lists disagree on, connections and sockets unlinked from the tables). Each view is one key of the JSON document and one table section of the text report.
 */
import type { GuestIntrospector, Problem } from '../../introspect/types.js';
import { WindowsIntrospector } from '../../introspect/windows/introspector.js';

export interface Views {
  processes?: boolean;
  modules?: boolean;
  vads?: boolean;
  findings?: boolean;
}

const hex = (v: bigint | undefined): string | undefined => (v === undefined ? undefined : `0x${v.toString(16)}`);
const iso = (ms: number | undefined): string | null => (ms ? new Date(ms).toISOString().replace('.000Z', 'Z') : null);

/** The JSON parts of the chosen views, and whether they hold findings (hidden processes, injected code, modules the lists disagree on). */
export function viewReport(g: GuestIntrospector, views: Views): { doc: Record<string, unknown>; findings: number; problems: Problem[] } {
  const doc: Record<string, unknown> = {};
  const problems: Problem[] = [];
  let findings = 0;
  const w = g instanceof WindowsIntrospector ? g : undefined;
  const listed = g.processes().items.filter((p) => p.exitTime === undefined);
  if (views.processes || views.findings) {
    if (w) {
      const s = w.psscan();
      problems.push(...s.problems);
      const rows = s.items.map((p) => ({
        pid: p.pid,
        ppid: p.ppid,
        name: p.name,
        foundBy: p.foundBy,
        hidden: p.hidden,
        freed: p.freed,
        physical: hex(p.physical),
        address: p.address !== 0n ? hex(p.address) : null,
        createTime: iso(p.createTime),
        exitTime: iso(p.exitTime),
      }));
      if (views.processes) doc.processScan = { bytesScanned: s.bytesScanned, items: rows };
      if (views.findings) doc.hiddenProcesses = rows.filter((p) => p.hidden);
      findings += rows.filter((p) => p.hidden).length;
    } else problems.push({ code: 'UNSUPPORTED', message: 'process pool-tag scan: Windows guests only', walk: 'psscan' });
  }
  if (views.modules) {
    if (w) {
      doc.processModules = listed.map((p) => {
        const r = w.loadedModules(p.pid);
        problems.push(...r.problems.map((x) => ({ ...x, message: `pid ${p.pid}: ${x.message}` })));
        return {
          pid: p.pid,
          name: p.name,
          modules: r.items.map((m) => ({ ...m, base: hex(m.base) })),
        };
      });
    } else problems.push({ code: 'UNSUPPORTED', message: 'loader lists: Windows guests only', walk: 'ldr' });
  }
  if (views.vads) {
    doc.vads = listed.map((p) => {
      const r = g.memoryMap(p.pid);
      problems.push(...r.problems.map((x) => ({ ...x, message: `pid ${p.pid}: ${x.message}` })));
      return { pid: p.pid, name: p.name, regions: r.items.map((v) => ({ ...v, start: hex(v.start), end: hex(v.end) })) };
    });
  }
  if (views.findings) {
    if (w) {
      const injected = listed.flatMap((p) => {
        const r = w.injectedCode(p.pid);
        problems.push(...r.problems.map((x) => ({ ...x, message: `pid ${p.pid}: ${x.message}` })));
        return r.items.map((f) => ({ ...f, start: hex(f.start), end: hex(f.end), readAt: hex(f.readAt), physical: hex(f.physical), peAt: hex(f.peAt) }));
      });
      const unlinked = listed.flatMap((p) =>
        w
          .loadedModules(p.pid)
          .items.filter((m) => m.suspicious)
          .map((m) => ({ pid: p.pid, name: p.name, base: hex(m.base), path: m.path, inLoad: m.inLoad, inMemory: m.inMemory, inInit: m.inInit })),
      );
      const net = w.connscan();
      problems.push(...net.problems);
      const hiddenNet = [
        ...net.connections.filter((c) => c.unlinked).map((c) => ({ kind: 'connection', local: `${c.localAddress}:${c.localPort}`, remote: `${c.remoteAddress}:${c.remotePort}`, pid: c.pid, physical: hex(c.physical) })),
        ...net.sockets.filter((x) => x.unlinked).map((x) => ({ kind: 'socket', local: `${x.localAddress}:${x.localPort}`, remote: null, pid: x.pid, physical: hex(x.physical) })),
      ];
      doc.injectedCode = injected;
      doc.unlinkedModules = unlinked;
      doc.hiddenConnections = hiddenNet;
      findings += injected.length + unlinked.length + hiddenNet.length;
    }
  }
  return { doc, findings, problems };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => '  ' + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

type Rows = Array<Record<string, unknown>>;
const s = (v: unknown): string => (v === null || v === undefined ? '' : String(v));
const yn = (v: unknown): string => (v ? 'yes' : '-');

/** Text sections for the views present in the document. */
export function viewText(doc: Record<string, unknown>): string {
  const out: string[] = [];
  const scan = doc.processScan as { bytesScanned: number; items: Rows } | undefined;
  if (scan) {
    out.push('', `Process scan (${scan.items.length} objects in ${scan.bytesScanned} bytes; hidden = live but not on the active list)`);
    out.push(table([['PID', 'PPID', 'Name', 'Found by', 'Hidden', 'Freed', 'Physical', 'Created', 'Exited'],
      ...scan.items.map((p) => [s(p.pid), s(p.ppid), s(p.name), s(p.foundBy), yn(p.hidden), yn(p.freed), s(p.physical), s(p.createTime), s(p.exitTime)])]));
  }
  const mods = doc.processModules as Array<{ pid: number; name: string; modules: Rows }> | undefined;
  for (const p of mods ?? []) {
    out.push('', `Modules of ${p.pid} ${p.name} (${p.modules.length}; Load/Mem/Init = on that loader list)`);
    if (p.modules.length) {
      out.push(table([['Base', 'Size', 'Load', 'Mem', 'Init', 'Flag', 'Path'],
        ...p.modules.map((m) => [s(m.base), `0x${Number(m.size).toString(16)}`, yn(m.inLoad), yn(m.inMemory), yn(m.inInit), m.suspicious ? '!' : '', s(m.path)])]));
    }
  }
  const vads = doc.vads as Array<{ pid: number; name: string; regions: Rows }> | undefined;
  for (const p of vads ?? []) {
    out.push('', `Memory map of ${p.pid} ${p.name} (${p.regions.length} VADs)`);
    if (p.regions.length) out.push(table([['Start', 'End', 'Perms', 'Kind', 'Path'], ...p.regions.map((v) => [s(v.start), s(v.end), s(v.perms), s(v.kind), s(v.path)])]));
  }
  const injected = doc.injectedCode as Rows | undefined;
  if (injected) {
    out.push('', `Injected code (${injected.length}: executable+writable memory with content)`);
    for (const f of injected) {
      const evidence = [f.peHeader ? `PE header at ${s(f.peAt)}` : '', f.prologue ? 'function prologue' : ''].filter(Boolean).join(', ') || 'content';
      out.push(`  ${s(f.pid)} ${s(f.processName)}  ${s(f.start)}-${s(f.end)}  ${s(f.protection)}  ${f.private ? 'private' : 'mapped'}  ${s(f.contentPages)}/${s(f.residentPages)} pages with content  ${evidence}`);
      out.push(`    read at ${s(f.readAt)} (physical ${s(f.physical)}):`);
      for (const line of s(f.head).match(/.{1,32}/g) ?? []) out.push(`      ${line.replace(/(..)/g, '$1 ').trim()}`);
    }
  }
  const hidden = doc.hiddenProcesses as Rows | undefined;
  if (hidden) {
    out.push('', `Hidden processes (${hidden.length})`);
    for (const p of hidden) out.push(`  ${s(p.pid)} ${s(p.name)}  EPROCESS at physical ${s(p.physical)}  created ${s(p.createTime)}`);
  }
  const hiddenNet = doc.hiddenConnections as Rows | undefined;
  if (hiddenNet) {
    out.push('', `Hidden connections and sockets (${hiddenNet.length}: live pool objects no tcpip.sys table reaches)`);
    for (const c of hiddenNet) out.push(`  ${s(c.kind)}  ${s(c.local)}${c.remote ? ` -> ${s(c.remote)}` : ''}  pid ${s(c.pid)}  physical ${s(c.physical)}`);
  }
  const unlinked = doc.unlinkedModules as Rows | undefined;
  if (unlinked) {
    out.push('', `Modules the loader lists disagree on (${unlinked.length})`);
    for (const m of unlinked) out.push(`  ${s(m.pid)} ${s(m.name)}  ${s(m.base)}  ${s(m.path)}  load ${yn(m.inLoad)} memory ${yn(m.inMemory)} init ${yn(m.inInit)}`);
  }
  return out.length ? out.join('\n') + '\n' : '';
}
