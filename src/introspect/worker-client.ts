/**
 * openIntrospectorInWorker(): a guest opened and walked on a worker thread of its own. The worker owns the memory
 * source and the introspector (walkers keep caches: one owner thread, no lock); the calling thread only posts
 * requests and receives answers, so discovery (a scan over the guest's RAM) and sweeps never stall its event loop.
 * The thread keeps the process alive only while a request is unanswered. close() answers every unanswered request
 * with CLOSED, then releases the guest and ends the thread.
 */
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ParasightError, type ErrorCode } from '../errors.js';
import type { MemorySourceSpec } from '../memory/open.js';
import type { AsyncGuestIntrospector, GuestSnapshot } from './async.js';
import { OPEN_ID, type SerializedError, type WorkerInit, type WorkerReply, type WorkerRequest } from './guest-worker.js';
import type { IntrospectorOptions } from './open.js';
import { SnapshotDecoder, type SnapshotChanges } from './snapshot-delta.js';
import type { ConnectionOwner, GuestInfo, GuestSocketTuple, MemoryMapEntry, WithProblems } from './types.js';

export interface WorkerIntrospectorOptions extends IntrospectorOptions {
  /**
   * Modules the worker imports before opening the guest, e.g. one that calls registerIntrospector() (openers
   * registered on the calling thread do not exist in the worker).
   */
  modules?: Array<string | URL>;
  /** close() ends the thread by force after this long if the worker is still busy (ms, default 5000). */
  closeTimeoutMs?: number;
}

/** The compiled worker script. Run from TypeScript sources (tests), the package's built copy is used. */
function workerScript(): URL {
  const own = new URL(import.meta.url);
  const script = own.pathname.endsWith('.ts') ? new URL('../../dist/introspect/guest-worker.js', own) : new URL('./guest-worker.js', own);
  if (!existsSync(fileURLToPath(script))) {
    throw new ParasightError(`the introspection worker script ${fileURLToPath(script)} is missing: build the package (npm run build:ts)`, { code: 'NATIVE_LOAD' });
  }
  return script;
}

function revive(e: SerializedError, memory: string): ParasightError {
  return new ParasightError(e.message, { code: e.code as ErrorCode, source: e.source ?? memory, ...(e.address !== undefined ? { address: e.address } : {}) });
}

interface Waiter {
  resolve: (value: unknown) => void;
  reject: (e: Error) => void;
}

export class WorkerIntrospector implements AsyncGuestIntrospector {
  readonly runsOn = 'worker' as const;
  /** Wall-clock ms the worker spent on its last answer (discovery for the opening). */
  lastWorkMs = 0;
  private readonly worker: Worker;
  private readonly waiters = new Map<number, Waiter>();
  private nextId = OPEN_ID + 1;
  private closing: Promise<void> | undefined;
  private exited = false;
  private death: ParasightError | undefined;
  private readonly decoder = new SnapshotDecoder();
  private readonly exit: Promise<void>;
  readonly opened: Promise<GuestInfo>;

  private constructor(
    private readonly origin: string,
    init: WorkerInit,
    private readonly closeTimeoutMs: number,
  ) {
    this.worker = new Worker(workerScript(), { workerData: init, name: `parasight guest ${origin}` });
    this.exit = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.on('message', (m: WorkerReply) => this.answer(m));
    // Ended without close() (an uncaught error, an exit): later requests fail with this reason, not a bare "closed".
    this.worker.on('error', (e) => {
      this.death ??= new ParasightError(`introspection worker failed: ${e.message}`, { code: 'IO', source: origin, cause: e });
      this.failAll(this.death);
    });
    this.worker.once('exit', (code) => {
      this.exited = true;
      if (!this.closing) this.death ??= new ParasightError(`introspection worker ended (exit code ${code})`, { code: 'CLOSED', source: origin });
      this.failAll(this.death ?? new ParasightError('the introspector was closed before answering', { code: 'CLOSED', source: origin }));
    });
    // Opening is a request in flight: the thread holds the process until it is answered.
    this.opened = new Promise((resolve, reject) => this.waiters.set(OPEN_ID, { resolve: resolve as (v: unknown) => void, reject }));
    this.opened.catch(() => {}); // seen by whoever awaits `opened` or makes a request
  }

  /**
   * Starts opening `memory` (a source string as `--memory` takes, or a source spec) in a new worker thread and
   * returns at once; `opened` settles when the guest is open. close() may be called at any time.
   */
  static start(memory: string | MemorySourceSpec, options: WorkerIntrospectorOptions = {}): WorkerIntrospector {
    const { modules, closeTimeoutMs, ...introspectorOptions } = options;
    const origin = typeof memory === 'string' ? memory : 'path' in memory ? memory.path : memory.kind;
    return new WorkerIntrospector(origin, { memory, options: introspectorOptions, modules: (modules ?? []).map(String) }, closeTimeoutMs ?? 5000);
  }

  /** Opens `memory` in a new worker thread; resolves once the guest is open, rejects (and ends the thread) if not. */
  static async open(memory: string | MemorySourceSpec, options: WorkerIntrospectorOptions = {}): Promise<WorkerIntrospector> {
    const w = WorkerIntrospector.start(memory, options);
    try {
      await w.opened;
    } catch (e) {
      await w.close();
      throw e;
    }
    return w;
  }

  private answer(m: WorkerReply): void {
    const w = this.waiters.get(m.id);
    if (!w) return;
    this.waiters.delete(m.id);
    this.lastWorkMs = m.ms;
    this.refState();
    if (m.ok) w.resolve(m.value);
    else w.reject(revive(m.error, this.origin));
  }

  private failAll(e: ParasightError): void {
    const all = [...this.waiters.values()];
    this.waiters.clear();
    for (const w of all) w.reject(e);
  }

  /** The thread holds the process open only while something waits for it. */
  private refState(): void {
    if (this.exited) return;
    if (this.waiters.size > 0 || this.closing) this.worker.ref();
    else this.worker.unref();
  }

  private request<T>(req: WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never): Promise<T> {
    if (this.death) return Promise.reject(this.death);
    if (this.closing || this.exited) return Promise.reject(new ParasightError('the introspector is closed', { code: 'CLOSED', source: this.origin }));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiters.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.refState();
      this.worker.postMessage({ ...req, id } as WorkerRequest);
    });
  }

  info(): Promise<GuestInfo> {
    return this.request({ op: 'info' });
  }

  /**
   * Only what changed since the previous snapshot crosses the thread boundary; this side keeps the rest. The lists
   * are read-only (frozen); an unchanged list is the same array as in the previous answer.
   */
  snapshot(refresh: boolean): Promise<GuestSnapshot> {
    return this.request<SnapshotChanges>({ op: 'snapshot', refresh }).then((c) => this.decoder.apply(c));
  }

  lookupConnection(tuple: GuestSocketTuple): Promise<ConnectionOwner | undefined> {
    return this.request({ op: 'lookup', tuple });
  }

  lookupMany(tuples: GuestSocketTuple[]): Promise<Array<ConnectionOwner | null>> {
    return this.request({ op: 'lookupMany', tuples });
  }

  memoryMap(pid: number): Promise<WithProblems<MemoryMapEntry>> {
    return this.request({ op: 'memoryMap', pid });
  }

  /** Whether the thread has ended (after close(), or if it died). */
  get ended(): boolean {
    return this.exited;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.failAll(new ParasightError('the introspector was closed before answering', { code: 'CLOSED', source: this.origin }));
      this.refState();
      if (!this.exited) {
        // The worker finishes what it is doing (a walk cannot be interrupted mid-way), closes the guest and ends.
        this.worker.postMessage({ id: this.nextId++, op: 'close' } satisfies WorkerRequest);
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.closeTimeoutMs)));
        if ((await Promise.race([this.exit, late])) === 'late') await this.worker.terminate();
        clearTimeout(timer);
        await this.exit;
      }
    })();
    return this.closing;
  }
}

/** Opens a guest on a worker thread of its own; see WorkerIntrospector. */
export function openIntrospectorInWorker(memory: string | MemorySourceSpec, options?: WorkerIntrospectorOptions): Promise<WorkerIntrospector> {
  return WorkerIntrospector.open(memory, options);
}
