import { describe, expect, it } from 'vitest';
import { ProcessQueue } from '../../../src/queues/process-queue.js';
import { RecordQueue, type ConnectionRecord } from '../../../src/queues/record-queue.js';
import type { GuestProcess } from '../../../src/introspect/types.js';

const proc = (pid: number, name: string, createTime: number): GuestProcess => ({ pid, ppid: 1, name, createTime, createTimeBase: 'boot', address: 0n, foundBy: 'test' });

describe('ProcessQueue', () => {
  it('detects new processes, exits and PID reuse by create time', () => {
    const q = new ProcessQueue({ exitedTtlMs: 100 });
    let u = q.update([proc(1, 'init', 0), proc(100, 'curl', 50)], 0);
    expect(u.added.map((p) => p.pid)).toEqual([1, 100]);
    const oldKey = q.get(100)!.key;
    u = q.update([proc(1, 'init', 0), proc(100, 'evil', 90)], 10);
    expect(u.reused).toHaveLength(1);
    expect(u.reused[0]!.before).toMatchObject({ name: 'curl', exitedAt: 10 });
    expect(u.reused[0]!.after).toMatchObject({ name: 'evil', key: '100@90' });
    expect(q.get(100)!.name).toBe('evil');
    // The retired generation stays resolvable by its key for records made before the reuse.
    expect(q.byKey(oldKey)!.name).toBe('curl');
    u = q.update([proc(1, 'init', 0)], 20);
    expect(u.exited.map((p) => p.key)).toEqual(['100@90']);
    expect(q.get(100)).toBeUndefined();
    expect(q.byKey('100@90')!.exitedAt).toBe(20);
    q.expire(200);
    expect(q.byKey('100@90')).toBeUndefined();
    expect(q.byKey(oldKey)).toBeUndefined();
    expect(q.reusedCount).toBe(1);
    expect(q.exitedCount).toBe(1);
  });

  it('keeps a path read once, and forgets it when the process execs (same pid and create time, new name)', () => {
    const q = new ProcessQueue();
    q.update([proc(7, 'sh', 5)], 0);
    q.upsert({ ...proc(7, 'sh', 5), path: '/bin/busybox' }, 1);
    q.update([proc(7, 'sh', 5)], 2);
    expect(q.get(7)!.path).toBe('/bin/busybox');
    q.update([proc(7, 'updater', 5)], 3);
    expect(q.get(7)).toMatchObject({ name: 'updater', path: undefined, key: '7@5' });
  });

  it('stays within its cap, dropping gone entries first', () => {
    const q = new ProcessQueue({ maxEntries: 3 });
    q.update([proc(1, 'a', 1), proc(2, 'b', 2), proc(3, 'c', 3)], 0);
    q.update([proc(2, 'b', 2), proc(3, 'c', 3)], 1); // 1 exits
    q.upsert(proc(4, 'd', 4), 2);
    expect(q.size).toBe(3);
    expect(q.byKey('1@1')).toBeUndefined();
    expect(q.get(4)).toBeDefined();
    expect(q.evictedCount).toBe(1);
  });
});

function rec(flowId: number): ConnectionRecord {
  return {
    flowId, flow: flowId, proto: 6, family: 4, local: '10.0.0.2', lport: 1, remote: '10.0.0.3', remoteWords: [0x0a000003, 0, 0, 0], rport: 2,
    direction: 'outbound', outcome: 'pending', reason: undefined, pid: undefined, processKey: undefined, name: undefined, path: undefined,
    firstSeen: 0, lastSeen: 0, attributionMs: undefined, verdict: undefined, generation: 0, endedAt: undefined,
  };
}

describe('RecordQueue', () => {
  it('is bounded (oldest first) and expires records after their flow ended', () => {
    const q = new RecordQueue({ maxRecords: 3, lingerMs: 50 });
    for (let i = 1; i <= 4; i++) q.add(rec(i));
    expect(q.size).toBe(3);
    expect(q.get(1)).toBeUndefined();
    expect(q.evicted).toBe(1);
    q.ended(2, 5, 100);
    expect([...q.active()].map((r) => r.flowId)).toEqual([3, 4]);
    expect(q.expire(140)).toBe(0);
    expect(q.expire(151)).toBe(1);
    expect(q.get(2)).toBeUndefined();
    expect(q.get(3)).toBeDefined();
  });
});
