/**
 * Loads the native addon once. Each TypeScript module that talks to C++ declares the slice of the addon it uses
 * (an interface of its own) and calls `addon<ThatInterface>()`: no single file lists every native function.
 *
 * node-gyp-build prefers build/Release, then prebuilds/. The sanitizer build (build-asan/) is loaded only when
 * PARASIGHT_NATIVE_BUILD=asan, which only the sanitizer test run sets.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { ParasightError } from './errors.js';

const require = createRequire(import.meta.url);
const packageRoot = fileURLToPath(new URL('..', import.meta.url));

interface CoreAddon {
  setErrorClass(cls: typeof ParasightError): void;
}

let loaded: CoreAddon | undefined;

function load(): CoreAddon {
  const variant = process.env.PARASIGHT_NATIVE_BUILD;
  let mod: CoreAddon;
  try {
    if (variant === 'asan') {
      const file = join(packageRoot, 'build-asan', 'Release', 'parasight.node');
      if (!existsSync(file)) throw new Error(`${file} does not exist: run "npm run build:native:asan"`);
      mod = require(file) as CoreAddon;
    } else {
      const nodeGypBuild = require('node-gyp-build') as (dir: string) => CoreAddon;
      mod = nodeGypBuild(packageRoot);
    }
  } catch (cause) {
    throw new ParasightError(
      `cannot load the parasight native addon (${cause instanceof Error ? cause.message : String(cause)}); ` +
        'build it with "npm run build:native"',
      { code: 'NATIVE_LOAD', cause },
    );
  }
  mod.setErrorClass(ParasightError);
  return mod;
}

/** The native addon, typed as the slice `T` the caller declares. */
export function addon<T>(): T {
  loaded ??= load();
  return loaded as unknown as T;
}

/** Opaque handle to a native object (memory source, address space, ...). Never inspect it. */
export type NativeHandle = { readonly __nativeHandle: unique symbol };
