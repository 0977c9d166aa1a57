/**
 * A small QMP (QEMU Machine Protocol) client over a unix socket: greeting + `qmp_capabilities` handshake,
 * `execute` with per-command timeouts, HMP commands through `human-monitor-command`, and events. General on
 * purpose: memory sources use it to locate guest RAM, lab tooling to drive a guest.
 *
 * QMP answers commands in order, and each command carries an `id` so replies are matched even if an event
 * arrives in between. Errors are ParasightError: NOT_FOUND / PERMISSION when the socket cannot be opened,
 * UNSUPPORTED when QEMU does not know a command, IO for timeouts, QMP errors and a closed connection.
 */
import { createConnection, type Socket } from 'node:net';
import { ParasightError, type ErrorCode } from '../errors.js';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export interface QmpOptions {
  /** Timeout for connecting + the handshake, and the default for each command. Default 5000 ms. */
  timeoutMs?: number;
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class QmpClient {
  /** QEMU's version and capabilities from the greeting. */
  readonly greeting: Record<string, unknown>;
  readonly #socket: Socket;
  readonly #path: string;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(event: QmpEvent) => void>();
  #nextId = 1;
  #buffered = '';
  #closed: Error | undefined;

  private constructor(socket: Socket, path: string, greeting: Record<string, unknown>, timeoutMs: number) {
    this.#socket = socket;
    this.#path = path;
    this.greeting = greeting;
    this.#timeoutMs = timeoutMs;
  }

  /** Connects to a QMP unix socket and completes the capabilities handshake. */
  static async connect(path: string, options: QmpOptions = {}): Promise<QmpClient> {
    if (typeof path !== 'string' || path.length === 0) {
      throw new ParasightError('QMP socket path must be a non-empty string', { code: 'BAD_ARGUMENT' });
    }
    const timeoutMs = options.timeoutMs ?? 5000;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      throw new ParasightError(`timeoutMs must be a positive integer, got ${String(timeoutMs)}`, { code: 'BAD_ARGUMENT' });
    }
    const socket = createConnection({ path });
    socket.setEncoding('utf8');
    const greeting = await new Promise<Record<string, unknown>>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => {
        fail(qmpError('IO', `QMP ${path}: no greeting within ${timeoutMs} ms (is it a QMP socket? is another client connected?)`));
      }, timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.on('error', (e: NodeJS.ErrnoException) => {
        const code: ErrorCode = e.code === 'ENOENT' ? 'NOT_FOUND' : e.code === 'EACCES' ? 'PERMISSION' : 'IO';
        fail(qmpError(code, `QMP ${path}: cannot connect: ${e.message}`, e));
      });
      socket.on('close', () => fail(qmpError('IO', `QMP ${path}: connection closed before the greeting`)));
      socket.on('data', function onData(chunk: string) {
        text += chunk;
        const nl = text.indexOf('\n');
        if (nl < 0) return;
        clearTimeout(timer);
        socket.pause(); // hold anything after the greeting until the client's own listener is attached
        socket.removeAllListeners('data');
        socket.removeAllListeners('close');
        socket.removeAllListeners('error');
        try {
          const msg = JSON.parse(text.slice(0, nl)) as { QMP?: Record<string, unknown> };
          if (msg.QMP === undefined) throw new Error('first message is not a QMP greeting');
          if (nl + 1 < text.length) socket.unshift(text.slice(nl + 1));
          resolve(msg.QMP);
        } catch (e) {
          fail(qmpError('IO', `QMP ${path}: bad greeting: ${e instanceof Error ? e.message : String(e)}`));
        }
      });
    });
    const client = new QmpClient(socket, path, greeting, timeoutMs);
    client.#attach();
    try {
      await client.execute('qmp_capabilities');
    } catch (e) {
      client.close();
      throw e;
    }
    return client;
  }

  /** Runs a QMP command and resolves with its `return` value. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options: { timeoutMs?: number } = {}): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#nextId++;
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(qmpError('IO', `QMP ${this.#path}: no reply to "${command}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer });
      const msg: Record<string, unknown> = { execute: command, id };
      if (args !== undefined) msg.arguments = args;
      this.#socket.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** Runs an HMP (human monitor) command and returns its text output with `\r\n` normalised to `\n`. */
  async hmp(commandLine: string, options: { timeoutMs?: number } = {}): Promise<string> {
    const out = await this.execute<string>('human-monitor-command', { 'command-line': commandLine }, options);
    return out.replace(/\r\n/g, '\n');
  }

  /** Subscribes to QMP events; returns the unsubscribe function. */
  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Closes the connection; pending commands fail with IO. */
  close(): void {
    this.#shutdown(qmpError('IO', `QMP ${this.#path}: connection closed`));
    this.#socket.destroy();
  }

  #attach(): void {
    this.#socket.on('data', (chunk: string) => {
      this.#buffered += chunk;
      let nl: number;
      while ((nl = this.#buffered.indexOf('\n')) >= 0) {
        const line = this.#buffered.slice(0, nl).trim();
        this.#buffered = this.#buffered.slice(nl + 1);
        if (line.length > 0) this.#dispatch(line);
      }
    });
    this.#socket.on('error', (e) => this.#shutdown(qmpError('IO', `QMP ${this.#path}: ${e.message}`, e)));
    this.#socket.on('close', () => this.#shutdown(qmpError('IO', `QMP ${this.#path}: connection closed by QEMU`)));
    this.#socket.resume();
  }

  #dispatch(line: string): void {
    let msg: { id?: number; return?: unknown; error?: { class?: string; desc?: string } } & Partial<QmpEvent>;
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return; // QMP only sends JSON; a garbled line cannot be matched to a command
    }
    if (typeof msg.event === 'string') {
      for (const l of this.#listeners) l(msg as QmpEvent);
      return;
    }
    const pending = msg.id === undefined ? undefined : this.#pending.get(msg.id);
    if (pending === undefined || msg.id === undefined) return;
    this.#pending.delete(msg.id);
    clearTimeout(pending.timer);
    if (msg.error !== undefined) {
      const cls = msg.error.class ?? 'Error';
      pending.reject(
        qmpError(
          cls === 'CommandNotFound' ? 'UNSUPPORTED' : 'IO',
          `QMP command "${pending.command}" failed: ${cls}: ${msg.error.desc ?? ''}`,
        ),
      );
    } else {
      pending.resolve(msg.return);
    }
  }

  #shutdown(err: Error): void {
    if (this.#closed) return;
    this.#closed = err;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
  }
}

function qmpError(code: ErrorCode, message: string, cause?: unknown): ParasightError {
  return new ParasightError(message, cause === undefined ? { code } : { code, cause });
}
