// `parasight analyze --processes --modules --vads --findings` on a generated XP image with a hidden process, a DLL
// unlinked from one loader list and injected code: the views in the JSON document and as tables, exit code 1 on
// findings, and the default report unchanged by them.
import { describe, expect, it, beforeAll, afterAll, vi, afterEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../../src/cli/commands/analyze.js';
import { buildImage } from '../fixtures/windows/builder.js';
import { cridex } from '../fixtures/windows/scenarios.js';
import type { ImageTruth, ProcessSpec } from '../fixtures/windows/scenario.js';
import { captureStdout } from '../fixtures/stdout.js';

let dir: string;
let truth: ImageTruth;
const SYS = '\\WINDOWS\\system32\\';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-analyze-views-'));
  const base = cridex();
  const processes: ProcessSpec[] = [
    ...base.processes.map((p): ProcessSpec =>
      p.pid === 1484
        ? {
            ...p,
            extraVads: [
              { start: 0x01460000, size: 0x21000, protection: 6, content: 'pe' },
              { start: 0x01500000, size: 0x3000, protection: 6, content: 'zero' },
              { start: 0x10000000, size: 0x20000, protection: 7, file: `${SYS}evil.dll` },
            ],
            loader: { unlink: [{ file: `${SYS}evil.dll`, from: ['init'] }] },
          }
        : p,
    ),
    { name: 'svch0st.exe', pid: 1996, ppid: 1484, created: '2012-07-22T02:44:50Z', hidden: true },
  ];
  truth = buildImage(cridex({ name: 'cridex-views', seed: 0x71e5, memoryMiB: 32, loaderLists: true, processes }), join(dir, 'views.raw'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

describe('parasight analyze views', () => {
  it('--json --processes --modules --vads --findings: every view in the document, exit 1 on findings', async () => {
    const out = captureStdout();
    expect(await analyze.run(['--memory', truth.path, '--json', '--processes', '--modules', '--vads', '--findings'])).toBe(1);
    vi.restoreAllMocks();
    const doc = JSON.parse(out.join(''));
    expect(doc.processScan.items).toHaveLength(truth.processes.length + 1);
    expect(doc.hiddenProcesses.map((p: { pid: number; physical: string }) => [p.pid, p.physical])).toEqual([[1996, `0x${truth.unlisted[0]!.physical.toString(16)}`]]);
    expect(doc.injectedCode.map((f: { pid: number; start: string; protection: string; peHeader: boolean }) => [f.pid, f.start, f.protection, f.peHeader])).toEqual([
      [1484, '0x1460000', 'PAGE_EXECUTE_READWRITE', true],
    ]);
    expect(doc.injectedCode[0].head).toMatch(/^4d5a[0-9a-f]{124}$/);
    expect(doc.unlinkedModules).toEqual([{ pid: 1484, name: 'explorer.exe', base: '0x10000000', path: `${SYS}evil.dll`, inLoad: true, inMemory: true, inInit: false }]);
    expect(doc.hiddenConnections).toEqual([]);
    const explorer = doc.processModules.find((p: { pid: number }) => p.pid === 1484);
    expect(explorer.modules.map((m: { base: string }) => m.base)).toEqual(['0x1000000', '0x10000000', '0x7c800000', '0x7c900000']);
    const vads = doc.vads.find((p: { pid: number }) => p.pid === 1484);
    expect(vads.regions).toHaveLength(truth.vads.get(1484)!.length);
    expect(doc.problems.filter((p: { code: string }) => p.code !== 'DECOY')).toEqual([]); // the base image plants decoys
  });

  it('tables: one section per view', async () => {
    const out = captureStdout();
    expect(await analyze.run(['--memory', truth.path, '--processes', '--findings'])).toBe(1);
    vi.restoreAllMocks();
    const text = out.join('');
    expect(text).toContain(`Process scan (${truth.processes.length + 1} objects`);
    expect(text).toMatch(/1996\s+1484\s+svch0st\.exe\s+psscan\s+yes/);
    expect(text).toMatch(/Injected code \(1:/);
    expect(text).toContain('read at 0x1460000');
    expect(text).toMatch(/Hidden processes \(1\)/);
    expect(text).not.toMatch(/Memory map of/);
  });

  it('without view flags the report has none of them and exits 0', async () => {
    const out = captureStdout();
    expect(await analyze.run(['--memory', truth.path, '--json'])).toBe(0);
    vi.restoreAllMocks();
    const doc = JSON.parse(out.join(''));
    for (const k of ['processScan', 'processModules', 'vads', 'injectedCode', 'hiddenProcesses', 'unlinkedModules', 'hiddenConnections']) expect(doc[k]).toBeUndefined();
  });
});
