/**
 * Guest mode of the baseline detector with the real Windows XP introspector (VAD walk) on generated guest images:
 * the baseline is recorded from outside on a clean guest, then the same guest with cridex's injected
 * PAGE_EXECUTE_READWRITE region in explorer.exe, and with an extra DLL mapped, is checked from outside.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMemory } from '../../src/index.js';
import { BaselineDetector } from '../../src/baseline/detector.js';
import { GuestMapSource } from '../../src/baseline/guest.js';
import { BaselineStore } from '../../src/baseline/store.js';
import type { Finding } from '../../src/baseline/types.js';
import { WindowsIntrospector } from '../../src/introspect/windows/introspector.js';
import { buildImage } from '../fixtures/windows/builder.js';
import type { Scenario } from '../fixtures/windows/scenario.js';
import { cridex } from '../fixtures/windows/scenarios.js';
import { baseline as baselineCommand } from '../../src/cli/commands/baseline.js';

let dir: string;
let store: BaselineStore;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-bl-win-'));
  store = new BaselineStore(join(dir, 'b.db'));
});
afterAll(() => {
  store?.close();
  rmSync(dir, { recursive: true, force: true });
});

const infected = cridex();
/** The same guest without the injected regions. */
const clean = cridex({ name: 'cridex-clean', processes: infected.processes.map(({ extraVads: _, ...p }) => p) });
/** The clean guest with one DLL more in explorer.exe (a classic LoadLibrary injection). */
const withDll = cridex({
  name: 'cridex-dll',
  processes: clean.processes.map((p) =>
    p.pid === 1484 ? { ...p, extraVads: [{ start: 0x10000000, size: 0x8000, protection: 7, file: '\\WINDOWS\\Temp\\hook.dll' }] } : p,
  ),
});

async function onGuest<T>(s: Scenario, fn: (d: BaselineDetector) => T): Promise<T> {
  const t = buildImage(s, join(dir, `${s.name}.raw`));
  const mem = openMemory(t.path);
  const w = WindowsIntrospector.open(mem);
  try {
    return fn(await BaselineDetector.create({ store, source: new GuestMapSource(w, { vm: 'xp-lab' }) }));
  } finally {
    w.close();
    mem.close();
  }
}

const kinds = (fs: Finding[]) => fs.map((f) => `${f.kind}:${f.risk}:${f.path}`).sort();

describe('baseline guest mode on Windows XP images (VAD walk from outside)', () => {
  it('records explorer.exe on the clean guest and finds nothing on a second look', async () => {
    const rec = await onGuest(clean, (d) => d.record({ name: 'explorer.exe' }));
    expect(rec).toHaveLength(1);
    const files = rec[0]!.stored.record.feature.paths;
    expect(files).toContain('\\WINDOWS\\system32\\ntdll.dll');
    expect(rec[0]!.stored.record.anonExecMax).toBe(0);
    const again = await onGuest(clean, (d) => d.check({ pid: 1484 }));
    expect(again[0]!.comparison.findings).toEqual([]);
  });

  it('catches cridex\'s injected executable private memory in explorer.exe', async () => {
    const [r] = await onGuest(infected, (d) => d.check({ name: 'explorer.exe' }));
    expect(kinds(r!.comparison.findings)).toEqual(['anon-exec:high:']);
    expect(r!.comparison.findings[0]!.ranges).toEqual([{ pid: 1484, start: 0x01460000n, end: 0x01481000n, perms: 'rwx' }]);
    expect(r!.events.find((e) => e.type === 'baseline.finding')).toMatchObject({ vm: 'xp-lab', verdict: 'parasitized', process: { pid: 1484 } });
  });

  it('catches an extra DLL mapped into explorer.exe as high-risk code', async () => {
    const [r] = await onGuest(withDll, (d) => d.check({ pid: 1484 }));
    expect(kinds(r!.comparison.findings)).toEqual(['extra:high:\\WINDOWS\\Temp\\hook.dll']);
  });

  it('CLI: record on the clean image, check the infected one with --memory (exit 1, NDJSON with the VM name)', async () => {
    const cleanImage = buildImage(clean, join(dir, 'cli-clean.raw')).path;
    const infectedImage = buildImage(infected, join(dir, 'cli-infected.raw')).path;
    const db = join(dir, 'cli.db');
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((x: string | Uint8Array) => (out.push(String(x)), true));
    try {
      expect(await baselineCommand.run(['record', '--memory', cleanImage, '--vm', 'xp1', '--name', 'explorer.exe', '--db', db])).toBe(0);
      expect(await baselineCommand.run(['check', '--memory', cleanImage, '--vm', 'xp1', '--name', 'explorer.exe', '--db', db])).toBe(0);
      out.length = 0;
      expect(await baselineCommand.run(['check', '--memory', infectedImage, '--vm', 'xp1', '--name', 'explorer.exe', '--db', db, '--json'])).toBe(1);
      const events = out.join('').trim().split('\n').map((l) => JSON.parse(l) as { type: string; vm: string; rule: string });
      expect(events.filter((e) => e.type === 'baseline.finding').map((e) => [e.vm, e.rule])).toEqual([['xp1', 'baseline.anon-exec']]);
    } finally {
      spy.mockRestore();
    }
  });
});
