// Snapshots as changes: what the receiving side rebuilds equals what was walked, walk after walk, while only the
// changed items travel.
import { describe, expect, it } from 'vitest';
import { SnapshotDecoder, SnapshotEncoder } from '../../../src/introspect/snapshot-delta.js';
import type { GuestSnapshot } from '../../../src/introspect/async.js';
import { MemoryIntrospector } from '../../fixtures/introspect/memory-introspector.js';

function snap(g: MemoryIntrospector): GuestSnapshot {
  return { processes: g.processes(), connections: g.connections(), sockets: g.sockets() };
}
const sorted = (xs: readonly object[]): object[] => [...xs].sort((a, b) => (JSON.stringify(a, (_k, v) => (typeof v === 'bigint' ? String(v) : v)) < JSON.stringify(b, (_k, v) => (typeof v === 'bigint' ? String(v) : v)) ? -1 : 1));

describe('snapshot changes', () => {
  it('the receiver rebuilds every walk; only what changed is sent', () => {
    const g = new MemoryIntrospector();
    for (let pid = 1; pid <= 50; pid++) {
      g.addProcess(pid, `p${pid}`);
      g.connectionList.push(g.connection(pid, 'tcp', '10.0.0.2', 1000 + pid, '192.0.2.1', 443));
    }
    g.listen(1, 'tcp', '0.0.0.0', 22);
    const enc = new SnapshotEncoder();
    const dec = new SnapshotDecoder();

    const first = enc.changes(snap(g));
    expect(first.processes.added).toHaveLength(50);
    const firstCopy = dec.apply(first);
    expect(firstCopy).toEqual(snap(g));

    // Nothing changed: nothing travels, the copy is whole.
    const same = enc.changes(snap(g));
    expect([same.processes, same.connections, same.sockets].every((l) => l.added.length === 0 && l.removed.length === 0)).toBe(true);
    const sameCopy = dec.apply(same);
    expect(sameCopy).toEqual(snap(g));
    // Unchanged lists are the very same (frozen) arrays: a consumer can skip rebuilding what it derived from them.
    expect(sameCopy.connections.items).toBe(firstCopy.connections.items);
    expect(Object.isFrozen(sameCopy.connections.items)).toBe(true);

    // A process exits, one starts, a connection changes state, a pid is reused with a new create time.
    g.processList.splice(4, 1);
    g.connectionList.splice(4, 1);
    g.addProcess(99, 'new');
    g.connectionList[0] = { ...g.connectionList[0]!, state: 'CLOSE_WAIT' };
    g.processList[0] = { ...g.processList[0]!, createTime: 5 };
    g.socketList.push({ proto: 'udp', family: 6, localAddress: '::', localPort: 53, pid: 99, foundBy: 't', address: 7n });
    const c = enc.changes(snap(g));
    expect(c.processes.added.map((p) => p.pid).sort()).toEqual([1, 99]);
    expect(c.processes.removed).toHaveLength(2);
    expect(c.connections.added).toHaveLength(1);
    expect(c.connections.removed).toHaveLength(2);
    expect(c.sockets.added).toHaveLength(1);
    const rebuilt = dec.apply(c);
    expect(rebuilt.connections.items).not.toBe(firstCopy.connections.items);
    for (const list of ['processes', 'connections', 'sockets'] as const) expect(sorted(rebuilt[list].items)).toEqual(sorted(snap(g)[list].items));

    // Problems are the last walk's, not accumulated.
    const withProblem = snap(g);
    withProblem.processes = { ...withProblem.processes, problems: [{ code: 'CYCLE', message: 'task list loops' }] };
    expect(dec.apply(enc.changes(withProblem)).processes.problems).toEqual([{ code: 'CYCLE', message: 'task list loops' }]);
    expect(dec.apply(enc.changes(snap(g))).processes.problems).toEqual([]);
  });
});
