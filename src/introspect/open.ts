/**
 * openIntrospector(): the one place the CLI turns `--memory PATH [--profile FILE]` into a GuestIntrospector.
 * Each OS implementation adds an opener to `openers` (it returns undefined when the guest is not its OS); the first
 * that recognises the guest wins. Embedders can skip this and pass their own GuestIntrospector to the Sensor.
 */
import { ParasightError } from '../errors.js';
import type { GuestIntrospector } from './types.js';

export interface IntrospectorSpec {
  /** Memory source: image file, live RAM file, ... (what openMemory accepts). */
  memory: string;
  /** Profile file (ISF JSON, or a generated Linux profile). */
  profile?: string;
}

/** Returns an introspector when it recognises the guest, undefined when the guest is not its kind. */
export type IntrospectorOpener = (spec: IntrospectorSpec) => GuestIntrospector | undefined;

const openers: IntrospectorOpener[] = [];

/** For OS implementations (and tests) to register an opener. */
export function registerIntrospector(opener: IntrospectorOpener): void {
  openers.push(opener);
}

export function openIntrospector(spec: IntrospectorSpec): GuestIntrospector {
  const tried: string[] = [];
  for (const open of openers) {
    const intro = open(spec);
    if (intro) return intro;
    tried.push(open.name || 'anonymous');
  }
  throw new ParasightError(
    openers.length === 0
      ? `no introspector for this guest yet: ${spec.memory} (no guest OS support is built in)`
      : `no introspector for this guest: ${spec.memory} (tried: ${tried.join(', ')})`,
    { code: 'UNSUPPORTED', source: spec.memory },
  );
}
