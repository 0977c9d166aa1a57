/**
 * Event delivery to embedders: an EventEmitter ("event") and async iterators, each with its own bounded queue.
 * Back-pressure: a consumer that falls behind loses the OLDEST queued events once its queue is full, and the loss is
 * counted (never unbounded memory, never a stalled packet path). NDJSON output honours the stream's own
 * back-pressure the same way.
 */
import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import type { SensorEvent } from './event.js';

export class EventStream extends EventEmitter<{ event: [SensorEvent] }> {
  private readonly iterators = new Set<Subscriber>();
  emitted = 0;
  ended = false;

  constructor(private readonly maxQueued = 10_000) {
    super();
  }

  publish(e: SensorEvent): void {
    if (this.ended) return;
    this.emitted++;
    for (const it of this.iterators) it.push(e);
    this.emit('event', e);
  }

  /** Events dropped across all iterators because consumers were too slow. */
  get dropped(): number {
    let n = 0;
    for (const it of this.iterators) n += it.dropped;
    return n + this.droppedClosed;
  }
  private droppedClosed = 0;

  /** A new async iterator receiving every event published from now on; ends when the stream ends. */
  subscribe(): AsyncIterableIterator<SensorEvent> {
    const sub = new Subscriber(this.maxQueued, () => {
      this.droppedClosed += sub.dropped;
      this.iterators.delete(sub);
    });
    if (this.ended) sub.end();
    else this.iterators.add(sub);
    return sub;
  }

  end(): void {
    this.ended = true;
    for (const it of this.iterators) it.end();
  }
}

class Subscriber implements AsyncIterableIterator<SensorEvent> {
  private readonly queue: SensorEvent[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<SensorEvent>) => void) | undefined;
  private done = false;
  dropped = 0;

  constructor(
    private readonly max: number,
    private readonly onClose: () => void,
  ) {}

  push(e: SensorEvent): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: e, done: false });
      return;
    }
    if (this.queue.length - this.head >= this.max) {
      this.head++;
      this.dropped++;
    }
    this.queue.push(e);
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }

  end(): void {
    this.done = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<SensorEvent>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as SensorEvent;
      return Promise.resolve({ value, done: false });
    }
    if (this.done) {
      this.onClose();
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve) => (this.waiter = resolve));
  }

  return(): Promise<IteratorResult<SensorEvent>> {
    this.done = true;
    this.queue.length = 0;
    this.head = 0;
    this.onClose();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<SensorEvent> {
    return this;
  }
}

/** Writes events as NDJSON; while the stream is saturated, lines queue up to `maxQueued`, then the oldest drop. */
export class NdjsonWriter {
  private readonly backlog: string[] = [];
  private waiting = false;
  dropped = 0;
  written = 0;

  constructor(
    private readonly out: Writable,
    private readonly maxQueued = 10_000,
  ) {}

  write(e: SensorEvent): void {
    const line = JSON.stringify(e) + '\n';
    if (this.waiting) {
      if (this.backlog.length >= this.maxQueued) {
        this.backlog.shift();
        this.dropped++;
      }
      this.backlog.push(line);
      return;
    }
    this.written++;
    if (!this.out.write(line)) {
      this.waiting = true;
      this.out.once('drain', () => this.drain());
    }
  }

  private drain(): void {
    this.waiting = false;
    while (this.backlog.length > 0) {
      this.written++;
      if (!this.out.write(this.backlog.shift()!)) {
        this.waiting = true;
        this.out.once('drain', () => this.drain());
        return;
      }
    }
  }
}
