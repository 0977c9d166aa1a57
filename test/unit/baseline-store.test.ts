import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDigest, type Digest } from '../../src/baseline/digest.js';
import { featureValue } from '../../src/baseline/feature.js';
import { BaselineStore, defaultDbPath, EXPORT_FORMAT } from '../../src/baseline/store.js';
import { defaultPolicy, type BaselineRecord } from '../../src/baseline/types.js';

let digest: Digest;
beforeAll(async () => {
  digest = await loadDigest();
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function dbFile(): string {
  const d = mkdtempSync(join(tmpdir(), 'bl-store-'));
  dirs.push(d);
  return join(d, 'sub', 'b.db');
}

function rec(appVersion: string, paths: string[], at: string): BaselineRecord {
  const key = { app: '/usr/bin/app', appVersion, osVersion: 'OS 1', deviceModel: 'Board' };
  return {
    feature: featureValue(key, paths, digest),
    files: paths.map((p) => ({ path: p, code: true, why: 'exec-mapping', exec: true, deleted: false, hash: digest.text(p) })),
    anonExecMax: 0,
    policy: defaultPolicy,
    appVersionInfo: { version: appVersion, source: 'given' },
    recordedAt: at,
    source: 'record',
  };
}

describe('BaselineStore', () => {
  it('keeps revisions of a key and answers with the newest', () => {
    const s = new BaselineStore(dbFile());
    try {
      expect(s.put(rec('1.0', ['/a'], 't1')).revision).toBe(1);
      expect(s.put(rec('1.0', ['/a', '/b'], 't2')).revision).toBe(2);
      const cur = s.current(rec('1.0', [], '').feature)!;
      expect(cur.revision).toBe(2);
      expect(cur.record.feature.paths).toEqual(['/a', '/b']);
      expect(s.current({ ...cur.record.feature, deviceModel: 'Other' })).toBeUndefined();
    } finally {
      s.close();
    }
  });

  it('finds the previous app version on the same OS and device', () => {
    const s = new BaselineStore(dbFile());
    try {
      s.put(rec('1.0', ['/a'], 't1'));
      s.put(rec('1.1', ['/a', '/c'], 't2'));
      const k2 = rec('2.0', [], '').feature;
      expect(s.previousVersion(k2)!.record.feature.appVersion).toBe('1.1');
      expect(s.previousVersion(rec('1.1', [], '').feature)!.record.feature.appVersion).toBe('1.0');
      expect(s.previousVersion({ ...k2, osVersion: 'OS 2' })).toBeUndefined();
    } finally {
      s.close();
    }
  });

  it('exports and imports all rows; importing twice adds nothing', () => {
    const a = new BaselineStore(dbFile());
    const b = new BaselineStore(dbFile());
    try {
      a.put(rec('1.0', ['/a'], 't1'));
      a.put(rec('1.1', ['/a', '/b'], 't2'));
      const doc = JSON.parse(JSON.stringify(a.exportAll())) as unknown;
      expect(b.importDocument(doc)).toBe(2);
      expect(b.importDocument(doc)).toBe(0);
      const rows = b.list();
      expect(rows.map((r) => [r.appVersion, r.source, r.files])).toEqual([['1.0', 'import', 1], ['1.1', 'import', 2]]);
      expect(b.current(rec('1.1', [], '').feature)!.record.feature.featureHash).toBe(rec('1.1', ['/a', '/b'], 't2').feature.featureHash);
    } finally {
      a.close();
      b.close();
    }
  });

  it('imports all or nothing: one malformed row rejects the whole document', () => {
    const s = new BaselineStore(dbFile());
    try {
      const good = { revision: 1, record: rec('1.0', ['/a'], 't1') };
      const bad = { revision: 1, record: { feature: { app: 'x' } } };
      expect(() => s.importDocument({ format: EXPORT_FORMAT, exportedAt: '', baselines: [good, bad] })).toThrow(/malformed/);
      expect(() => s.importDocument({ format: 'something-else', baselines: [] })).toThrow(/not a parasight-baselines/);
      expect(s.list()).toEqual([]);
    } finally {
      s.close();
    }
  });

  it('defaults to $PARASIGHT_DB, then the XDG data dir, then ~/.local/share', () => {
    expect(defaultDbPath({ PARASIGHT_DB: '/x/y.db' })).toBe('/x/y.db');
    expect(defaultDbPath({ XDG_DATA_HOME: '/data' })).toBe('/data/parasight/baselines.db');
    expect(defaultDbPath({})).toMatch(/\/\.local\/share\/parasight\/baselines\.db$/);
  });
});
