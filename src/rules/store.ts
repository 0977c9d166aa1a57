/**
 * Holds the current policy snapshot and swaps it atomically on reload (SIGHUP or file change). A reload that fails
 * validation keeps the previous snapshot and reports the error; nothing else (flows, records, processes) is reset.
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { loadPolicyFile, parsePolicy } from './load.js';
import type { Policy, PolicySpec } from './policy.js';

export interface PolicyStoreEvents {
  reloaded: [policy: Policy, generation: number];
  error: [error: Error];
}

export class PolicyStore extends EventEmitter<PolicyStoreEvents> {
  private current: Policy;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  generation = 1;
  readonly path: string | undefined;

  /** From a file path (YAML/JSON), a policy object, or policy text with a name for messages. */
  constructor(source: string | PolicySpec | { text: string; name: string }) {
    super();
    if (typeof source === 'string') {
      this.path = source;
      this.current = loadPolicyFile(source);
    } else if ('text' in source) {
      this.current = parsePolicy(source.text, source.name);
    } else {
      this.current = parsePolicy(JSON.stringify(source), '(policy object)');
    }
  }

  get policy(): Policy {
    return this.current;
  }

  /** Re-reads the file; on error the old policy stays. Returns whether the new one was installed. */
  reload(): boolean {
    if (!this.path) return false;
    try {
      this.current = loadPolicyFile(this.path);
    } catch (e) {
      // Reported to listeners; without one a failed reload is only the `false` result (never an uncaught throw).
      if (this.listenerCount('error') > 0) this.emit('error', e as Error);
      return false;
    }
    this.generation++;
    this.emit('reloaded', this.current, this.generation);
    return true;
  }

  /** Replaces the policy from an object (embedders that keep policy elsewhere). */
  replace(spec: PolicySpec): void {
    this.current = parsePolicy(JSON.stringify(spec), '(policy object)');
    this.generation++;
    this.emit('reloaded', this.current, this.generation);
  }

  /** Reloads when the file changes (debounced: editors write in several steps). */
  watchFile(debounceMs = 200): void {
    if (!this.path || this.watcher) return;
    this.watcher = watch(this.path, () => {
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.reload(), debounceMs);
      this.debounce.unref();
    });
    this.watcher.unref();
  }

  close(): void {
    clearTimeout(this.debounce);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
