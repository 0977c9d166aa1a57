/**
 * Snapshots sent as changes: the worker thread keeps what it last sent and sends only the items that appeared and
 * the keys of those that went; the receiving thread applies them to its copy. A guest changes little between two
 * walks, so the receiving thread (the sensor's event loop) deserialises a handful of objects instead of every
 * process, connection and socket of the guest.
 */
import type { GuestSnapshot } from './async.js';
import type { Problem, WithProblems } from './types.js';

type ListName = keyof GuestSnapshot;
const LISTS: ListName[] = ['processes', 'connections', 'sockets'];

export interface ListChanges<T> {
  added: T[];
  /** Keys of items gone since the last snapshot. */
  removed: string[];
  problems: Problem[];
}

export type SnapshotChanges = { [K in ListName]: ListChanges<GuestSnapshot[K]['items'][number]> };

const bigintSafe = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? `${v}n` : v);

/**
 * Identity of an item: every field's value, in the item's own field order (items of one list share a shape), so an
 * item whose state, pid or name changed is replaced. Plain concatenation: this runs for every item of every walk.
 */
function keyOf(item: object): string {
  let k = '';
  const o = item as Record<string, unknown>;
  for (const name in o) {
    const v = o[name];
    k += typeof v === 'object' && v !== null ? JSON.stringify(v, bigintSafe) : typeof v === 'string' ? v : String(v);
    k += '\u0000';
  }
  return k;
}

/** Sender side (worker): remembers the last snapshot it described. */
export class SnapshotEncoder {
  private last = new Map<ListName, Map<string, object>>();

  changes(snap: GuestSnapshot): SnapshotChanges {
    const out = {} as Record<ListName, ListChanges<object>>;
    for (const list of LISTS) {
      const before = this.last.get(list) ?? new Map<string, object>();
      const now = new Map<string, object>();
      const added: object[] = [];
      for (const item of (snap[list] as WithProblems<object>).items) {
        const k = keyOf(item);
        if (now.has(k)) continue; // an exact duplicate adds nothing
        now.set(k, item);
        if (!before.has(k)) added.push(item);
      }
      const removed: string[] = [];
      for (const k of before.keys()) if (!now.has(k)) removed.push(k);
      this.last.set(list, now);
      out[list] = { added, removed, problems: snap[list].problems };
    }
    return out as unknown as SnapshotChanges;
  }
}

/**
 * Receiver side: applies changes to its copy and hands out whole snapshots. A list that did not change is handed
 * out as the very same (frozen) array as last time, so a consumer can tell "unchanged" by identity and skip work.
 */
export class SnapshotDecoder {
  private readonly items = new Map<ListName, Map<string, object>>();
  private readonly arrays = new Map<ListName, readonly object[]>();

  apply(changes: SnapshotChanges): GuestSnapshot {
    const out = {} as Record<ListName, { items: readonly object[]; problems: Problem[] }>;
    for (const list of LISTS) {
      let m = this.items.get(list);
      if (!m) this.items.set(list, (m = new Map()));
      const c = changes[list] as ListChanges<object>;
      for (const k of c.removed) m.delete(k);
      for (const item of c.added) m.set(keyOf(item), item);
      let items = this.arrays.get(list);
      if (!items || c.added.length > 0 || c.removed.length > 0) this.arrays.set(list, (items = Object.freeze([...m.values()])));
      out[list] = { items, problems: c.problems };
    }
    return out as unknown as GuestSnapshot;
  }
}
