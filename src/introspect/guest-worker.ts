/**
 * Worker-thread side of openIntrospectorInWorker(): owns one guest (memory source + introspector with its walker
 * caches) and answers requests one at a time, so no lock is needed around the walkers. Discovery, sweeps and
 * lookups block this thread only. Answers and failures go back as messages; errors keep their ParasightError code.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ParasightError } from '../errors.js';
import { openGuest, type IntrospectorOptions } from './open.js';
import { lookupMany, takeSnapshot } from './async.js';
import { SnapshotEncoder } from './snapshot-delta.js';
import type { GuestIntrospector } from './types.js';
import type { MemorySourceSpec } from '../memory/open.js';

export interface WorkerInit {
  memory: string | MemorySourceSpec;
  options: IntrospectorOptions;
  /** Modules imported before opening (e.g. ones that call registerIntrospector). */
  modules: string[];
}

export type WorkerRequest =
  | { id: number; op: 'info' }
  | { id: number; op: 'snapshot'; refresh: boolean }
  | { id: number; op: 'lookup'; tuple: Parameters<GuestIntrospector['lookupConnection']>[0] }
  | { id: number; op: 'lookupMany'; tuples: Array<Parameters<GuestIntrospector['lookupConnection']>[0]> }
  | { id: number; op: 'memoryMap'; pid: number }
  | { id: number; op: 'close' };

export interface SerializedError {
  message: string;
  code: string;
  source?: string;
  address?: bigint;
}

export type WorkerReply = { id: number; ok: true; value: unknown; ms: number } | { id: number; ok: false; error: SerializedError; ms: number };

/** Request id of the answer to opening (sent without being asked). */
export const OPEN_ID = 0;

function serialize(e: unknown): SerializedError {
  if (e instanceof ParasightError) {
    return { message: e.message, code: e.code, ...(e.source !== undefined ? { source: e.source } : {}), ...(e.address !== undefined ? { address: e.address } : {}) };
  }
  return { message: e instanceof Error ? e.message : String(e), code: 'IO' };
}

const port = parentPort;
if (port) {
  const init = workerData as WorkerInit;
  let intro: GuestIntrospector | undefined;
  // Snapshots go out as changes since the previous one (the client applies them in order).
  const encoder = new SnapshotEncoder();
  const reply = (id: number, started: number, f: () => unknown): void => {
    let msg: WorkerReply;
    try {
      msg = { id, ok: true, value: f(), ms: performance.now() - started };
    } catch (e) {
      msg = { id, ok: false, error: serialize(e), ms: performance.now() - started };
    }
    try {
      port.postMessage(msg);
    } catch (e) {
      // An answer that cannot cross threads (e.g. a custom introspector returning functions) is a failed request.
      port.postMessage({ id, ok: false, error: { message: `the answer cannot be sent between threads: ${(e as Error).message}`, code: 'UNSUPPORTED' }, ms: msg.ms } satisfies WorkerReply);
    }
  };
  const opened = (async () => {
    const started = performance.now();
    try {
      for (const m of init.modules) await import(m);
      intro = await openGuest(init.memory, init.options);
      reply(OPEN_ID, started, () => intro!.info());
    } catch (e) {
      port.postMessage({ id: OPEN_ID, ok: false, error: serialize(e), ms: performance.now() - started } satisfies WorkerReply);
    }
  })();
  port.on('message', (req: WorkerRequest) => {
    void opened.then(() => {
      const started = performance.now();
      if (req.op === 'close') {
        reply(req.id, started, () => intro?.close());
        intro = undefined;
        // Nothing else keeps this thread alive: it ends once the port is closed.
        port.close();
        return;
      }
      reply(req.id, started, () => {
        if (!intro) throw new ParasightError('the guest is not open', { code: 'CLOSED' });
        switch (req.op) {
          case 'info':
            return intro.info();
          case 'snapshot':
            return encoder.changes(takeSnapshot(intro, req.refresh));
          case 'lookup':
            return intro.lookupConnection(req.tuple);
          case 'lookupMany':
            return lookupMany(intro, req.tuples);
          case 'memoryMap':
            return intro.memoryMap(req.pid);
        }
      });
    });
  });
}
