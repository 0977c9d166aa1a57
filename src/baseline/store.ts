/**
 * Baseline store: SQLite (better-sqlite3), one row per recorded normal value, keyed by (app, app version, OS
 * version, device model) plus a revision. Nothing is overwritten: recording a key again adds a revision (the newest
 * is the normal value), and the rows of other app versions are the history that "the previous version" comes from.
 * Every write is one transaction. Export/import is a JSON document of the same rows.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { ParasightError } from '../errors.js';
import type { FeatureKey } from './feature.js';
import type { BaselineRecord } from './types.js';

export const EXPORT_FORMAT = 'parasight-baselines/1';

export interface StoredBaseline {
  id: number;
  revision: number;
  record: BaselineRecord;
}

export interface BaselineSummary extends FeatureKey {
  id: number;
  revision: number;
  recordedAt: string;
  source: BaselineRecord['source'];
  files: number;
  featureHash: string;
}

export interface ExportDocument {
  format: typeof EXPORT_FORMAT;
  exportedAt: string;
  baselines: { revision: number; record: BaselineRecord }[];
}

/** $PARASIGHT_DB, else $XDG_DATA_HOME/parasight/baselines.db, else ~/.local/share/parasight/baselines.db. */
export function defaultDbPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PARASIGHT_DB) return env.PARASIGHT_DB;
  const data = env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(data, 'parasight', 'baselines.db');
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS baselines (
  id INTEGER PRIMARY KEY,
  app TEXT NOT NULL,
  app_version TEXT NOT NULL,
  os_version TEXT NOT NULL,
  device_model TEXT NOT NULL,
  revision INTEGER NOT NULL,
  recorded_at TEXT NOT NULL,
  source TEXT NOT NULL,
  feature_hash TEXT NOT NULL,
  record TEXT NOT NULL,
  UNIQUE (app, app_version, os_version, device_model, revision)
);
CREATE INDEX IF NOT EXISTS baselines_by_app ON baselines (app, os_version, device_model, id);
`;

interface Row {
  id: number;
  revision: number;
}

interface FullRow extends Row {
  record: string;
}

function keyOf(r: BaselineRecord): FeatureKey {
  const f = r.feature;
  return { app: f.app, appVersion: f.appVersion, osVersion: f.osVersion, deviceModel: f.deviceModel };
}

function isRecord(v: unknown): v is BaselineRecord {
  const r = v as BaselineRecord;
  return (
    typeof r === 'object' && r !== null &&
    typeof r.feature?.app === 'string' && typeof r.feature.appVersion === 'string' &&
    typeof r.feature.osVersion === 'string' && typeof r.feature.deviceModel === 'string' &&
    Array.isArray(r.feature.paths) && typeof r.feature.featureHash === 'string' &&
    typeof r.feature.pathHash === 'string' && Array.isArray(r.files) &&
    r.files.every((f) => typeof f?.path === 'string' && typeof f.code === 'boolean') &&
    typeof r.anonExecMax === 'number' && typeof r.recordedAt === 'string' && typeof r.policy === 'object'
  );
}

export class BaselineStore {
  private readonly db: Database.Database;
  private readonly stmt: {
    maxRevision: Database.Statement;
    insert: Database.Statement;
    current: Database.Statement;
    previous: Database.Statement;
    record: Database.Statement;
  };
  /** Rows never change once written, so parsed records can be kept by row id. */
  private readonly parsed = new Map<number, BaselineRecord>();

  constructor(readonly file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    try {
      this.db = new Database(file);
      this.db.pragma('journal_mode = WAL');
      this.db.exec(SCHEMA);
      const key = 'app=? AND app_version=? AND os_version=? AND device_model=?';
      this.stmt = {
        maxRevision: this.db.prepare(`SELECT MAX(revision) AS m FROM baselines WHERE ${key}`),
        insert: this.db.prepare(
          `INSERT INTO baselines (app, app_version, os_version, device_model, revision, recorded_at, source, feature_hash, record)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ),
        current: this.db.prepare(`SELECT id, revision FROM baselines WHERE ${key} ORDER BY revision DESC LIMIT 1`),
        previous: this.db.prepare(
          'SELECT id, revision FROM baselines WHERE app=? AND os_version=? AND device_model=? AND app_version<>? ORDER BY id DESC LIMIT 1',
        ),
        record: this.db.prepare('SELECT record FROM baselines WHERE id=?'),
      };
    } catch (cause) {
      throw new ParasightError(`cannot open baseline database ${file}: ${(cause as Error).message}`, { code: 'IO', source: file, cause });
    }
  }

  close(): void {
    this.db.close();
  }

  /** Stores a new revision of the record's key; returns it. */
  put(record: BaselineRecord): StoredBaseline {
    return this.db.transaction(() => this.insert(record))();
  }

  private insert(record: BaselineRecord): StoredBaseline {
    const k = keyOf(record);
    const max = (this.stmt.maxRevision.get(k.app, k.appVersion, k.osVersion, k.deviceModel) as { m: number | null }).m;
    const next = (max ?? 0) + 1;
    const info = this.stmt.insert.run(k.app, k.appVersion, k.osVersion, k.deviceModel, next, record.recordedAt, record.source,
      record.feature.featureHash, JSON.stringify(record));
    return { id: Number(info.lastInsertRowid), revision: next, record };
  }

  private load(row: { id: number; revision: number } | undefined): StoredBaseline | undefined {
    if (!row) return undefined;
    let record = this.parsed.get(row.id);
    if (!record) {
      record = JSON.parse((this.stmt.record.get(row.id) as { record: string }).record) as BaselineRecord;
      this.parsed.set(row.id, record);
    }
    return { id: row.id, revision: row.revision, record };
  }

  /** The normal value for a key: its newest revision. */
  current(k: FeatureKey): StoredBaseline | undefined {
    return this.load(this.stmt.current.get(k.app, k.appVersion, k.osVersion, k.deviceModel) as Row | undefined);
  }

  /** Newest baseline of the same app, OS and device with another app version (the version before an upgrade). */
  previousVersion(k: FeatureKey): StoredBaseline | undefined {
    return this.load(this.stmt.previous.get(k.app, k.osVersion, k.deviceModel, k.appVersion) as Row | undefined);
  }

  list(app?: string): BaselineSummary[] {
    const rows = (app === undefined
      ? this.db.prepare('SELECT id, revision, record FROM baselines ORDER BY app, app_version, revision').all()
      : this.db.prepare('SELECT id, revision, record FROM baselines WHERE app=? ORDER BY app_version, revision').all(app)) as FullRow[];
    return rows.map((row) => {
      const r = JSON.parse(row.record) as BaselineRecord;
      return { ...keyOf(r), id: row.id, revision: row.revision, recordedAt: r.recordedAt, source: r.source, files: r.files.length, featureHash: r.feature.featureHash };
    });
  }

  exportAll(app?: string): ExportDocument {
    const rows = (app === undefined
      ? this.db.prepare('SELECT id, revision, record FROM baselines ORDER BY id').all()
      : this.db.prepare('SELECT id, revision, record FROM baselines WHERE app=? ORDER BY id').all(app)) as FullRow[];
    return {
      format: EXPORT_FORMAT,
      exportedAt: new Date().toISOString(),
      baselines: rows.map((r) => ({ revision: r.revision, record: JSON.parse(r.record) as BaselineRecord })),
    };
  }

  /**
   * Imports an export document in one transaction (all or nothing). A row identical to a stored one (same key,
   * feature hash and recording time) is skipped, so importing twice changes nothing. Returns the rows added.
   */
  importDocument(doc: unknown): number {
    const d = doc as ExportDocument;
    if (typeof d !== 'object' || d === null || d.format !== EXPORT_FORMAT || !Array.isArray(d.baselines)) {
      throw new ParasightError(`not a ${EXPORT_FORMAT} document`, { code: 'FORMAT' });
    }
    d.baselines.forEach((b, i) => {
      if (!isRecord(b?.record)) throw new ParasightError(`baseline #${i} of the import is malformed`, { code: 'FORMAT', offset: i });
    });
    const exists = this.db.prepare(
      'SELECT 1 FROM baselines WHERE app=? AND app_version=? AND os_version=? AND device_model=? AND feature_hash=? AND recorded_at=?',
    );
    return this.db.transaction(() => {
      let added = 0;
      for (const b of d.baselines) {
        const k = keyOf(b.record);
        if (exists.get(k.app, k.appVersion, k.osVersion, k.deviceModel, b.record.feature.featureHash, b.record.recordedAt)) continue;
        this.insert({ ...b.record, source: 'import' });
        added++;
      }
      return added;
    })();
  }
}
