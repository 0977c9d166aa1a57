import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient, type QmpEvent } from '../../src/memory/qmp.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-qmp-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GREETING = { QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 } }, capabilities: ['oob'] } };

/** A QMP server speaking the protocol like QEMU: greeting, capabilities, \r\n line ends, events between replies. */
async function fakeQmp(greeting: string | null = `${JSON.stringify(GREETING)}\r\n`): Promise<{ path: string; server: Server; sockets: Socket[] }> {
  const path = join(dir, `qmp-${Math.random().toString(36).slice(2)}.sock`);
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    if (greeting !== null) s.write(greeting);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { execute: string; arguments?: Record<string, unknown>; id?: unknown };
        buf = buf.slice(nl + 1);
        const reply = (body: object): boolean => s.write(`${JSON.stringify({ ...body, id: msg.id })}\r\n`);
        switch (msg.execute) {
          case 'qmp_capabilities':
            reply({ return: {} });
            break;
          case 'echo':
            reply({ return: msg.arguments ?? null });
            break;
          case 'human-monitor-command':
            reply({ return: `ran ${String(msg.arguments?.['command-line'])}\r\nsecond line\r\n` });
            break;
          case 'evt':
            s.write(`${JSON.stringify({ event: 'STOP', data: {}, timestamp: { seconds: 1, microseconds: 2 } })}\r\n`);
            reply({ return: 'after-event' });
            break;
          case 'hangup':
            s.destroy();
            break;
          case 'slow':
            break; // never answers
          default:
            reply({ error: { class: msg.execute === 'fail' ? 'GenericError' : 'CommandNotFound', desc: `no ${msg.execute}` } });
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, server, sockets };
}

describe('QMP client', () => {
  it('handshakes, executes, runs HMP commands and delivers events', async () => {
    const { path, server } = await fakeQmp();
    const qmp = await QmpClient.connect(path);
    expect(qmp.greeting).toEqual(GREETING.QMP);
    expect(await qmp.execute('echo', { a: 1 })).toEqual({ a: 1 });
    expect(await qmp.hmp('gpa2hva 0')).toBe('ran gpa2hva 0\nsecond line\n');
    const events: QmpEvent[] = [];
    qmp.onEvent((e) => events.push(e));
    expect(await qmp.execute('evt')).toBe('after-event');
    expect(events).toEqual([{ event: 'STOP', data: {}, timestamp: { seconds: 1, microseconds: 2 } }]);
    // Concurrent commands are matched by id.
    expect(await Promise.all([qmp.execute('echo', { n: 1 }), qmp.execute('echo', { n: 2 })])).toEqual([{ n: 1 }, { n: 2 }]);
    qmp.close();
    expect(qmp.closed).toBe(true);
    await expect(qmp.execute('echo')).rejects.toMatchObject({ code: 'IO', message: `QMP ${path}: connection closed` });
    server.close();
  });

  it('QMP errors, timeouts and a dropped connection are clear errors', async () => {
    const { path, server } = await fakeQmp();
    const qmp = await QmpClient.connect(path, { timeoutMs: 200 });
    await expect(qmp.execute('fail')).rejects.toMatchObject({ code: 'IO', message: 'QMP command "fail" failed: GenericError: no fail' });
    await expect(qmp.execute('nope')).rejects.toMatchObject({ code: 'UNSUPPORTED', message: 'QMP command "nope" failed: CommandNotFound: no nope' });
    await expect(qmp.execute('slow', undefined, { timeoutMs: 50 })).rejects.toMatchObject({
      code: 'IO',
      message: `QMP ${path}: no reply to "slow" within 50 ms`,
    });
    await expect(qmp.execute('hangup')).rejects.toMatchObject({ code: 'IO', message: `QMP ${path}: connection closed by QEMU` });
    server.close();
  });

  it('connection failures: missing socket, no greeting, not QMP', async () => {
    await expect(QmpClient.connect(join(dir, 'missing.sock'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const silent = await fakeQmp(null);
    await expect(QmpClient.connect(silent.path, { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'IO',
      message: `QMP ${silent.path}: no greeting within 100 ms (is it a QMP socket? is another client connected?)`,
    });
    silent.server.close();
    for (const s of silent.sockets) s.destroy();
    const other = await fakeQmp('{"hello": 1}\n');
    await expect(QmpClient.connect(other.path)).rejects.toMatchObject({
      code: 'IO',
      message: `QMP ${other.path}: bad greeting: first message is not a QMP greeting`,
    });
    other.server.close();
    await expect(QmpClient.connect('')).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });
});
