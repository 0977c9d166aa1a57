/**
 * Guest mode of the baseline detector with the real Windows XP introspector on a generated guest image. Its process
 * walk is real; its memory maps (VAD walk) are not implemented yet, so the detector must say it cannot judge
 * (verdict "unknown", exit 2 in the CLI) — never report every baseline file as missing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMemory } from '../../src/index.js';
import { BaselineDetector } from '../../src/baseline/detector.js';
import { GuestMapSource } from '../../src/baseline/guest.js';
import { BaselineStore } from '../../src/baseline/store.js';
import { WindowsIntrospector } from '../../src/introspect/windows/introspector.js';
import { buildImage } from '../fixtures/windows/builder.js';
import { generic } from '../fixtures/windows/scenarios.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-bl-win-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('baseline guest mode on a Windows XP image', () => {
  it('finds the guest process by name and answers "unknown" while memory maps are unavailable', async () => {
    const t = buildImage(generic(), join(dir, 'generic.raw'));
    const mem = openMemory(t.path);
    const w = WindowsIntrospector.open(mem);
    const store = new BaselineStore(':memory:');
    try {
      const det = await BaselineDetector.create({ store, source: new GuestMapSource(w, { vm: 'xp-lab' }) });
      const snaps = det.collect({ name: 'iexplore.exe' });
      expect(snaps).toHaveLength(1);
      expect(snaps[0]!.env.osVersion).toMatch(/^windows /);
      const memProblems = snaps[0]!.problems.filter((p) => p.walk === 'vad');
      if (memProblems.length === 0) {
        // The VAD walk has landed: then the map must name the process's executable (the honest positive case).
        expect(snaps[0]!.processes[0]!.entries.length).toBeGreaterThan(0);
        return;
      }
      expect(() => det.record({ name: 'iexplore.exe' })).toThrow(/cannot record/);
      const [r] = det.check({ pid: 1320 });
      expect(r!.comparison.findings).toEqual([]);
      expect(r!.events.map((e) => [e.type, e.verdict, e.vm])).toEqual([['baseline.unknown', 'unknown', 'xp-lab']]);
      expect(r!.events[0]!.reason).toMatch(/no memory map could be read/);
    } finally {
      store.close();
      w.close();
      mem.close();
    }
  });
});
