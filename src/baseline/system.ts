/**
 * Host facts that key a baseline: OS version (os-release + kernel release), device model (DMI product name or
 * device-tree model) and an application's version (package manager, else ELF build-id, else what the caller gave).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { readBuildId } from './elf.js';
import type { AppVersion, Environment } from './types.js';

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** os-release values (quotes and backslash escapes removed). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2] ?? '';
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0])) v = v.slice(1, -1);
    out[m[1]!] = v.replace(/\\(.)/g, '$1');
  }
  return out;
}

export function osVersion(root = '/'): string {
  const text = readText(`${root}etc/os-release`) ?? readText(`${root}usr/lib/os-release`);
  const r = text ? parseOsRelease(text) : {};
  const name = r.PRETTY_NAME ?? ([r.NAME, r.VERSION ?? r.VERSION_ID].filter(Boolean).join(' ') || 'unknown OS');
  return `${name}; kernel ${release()}`;
}

/** Device-tree strings end with NUL; DMI files with a newline. */
function clean(s: string | undefined): string | undefined {
  const t = s?.replace(/\0/g, '').trim();
  return t ? t : undefined;
}

export function deviceModel(root = '/'): string {
  return (
    clean(readText(`${root}sys/class/dmi/id/product_name`)) ??
    clean(readText(`${root}sys/firmware/devicetree/base/model`)) ??
    clean(readText(`${root}proc/device-tree/model`)) ??
    clean(readText(`${root}sys/class/dmi/id/board_name`)) ??
    'unknown'
  );
}

let envCache: Environment | undefined;

/** The host's environment (read once per process: neither changes while we run). */
export function hostEnvironment(): Environment {
  envCache ??= { osVersion: osVersion(), deviceModel: deviceModel() };
  return envCache;
}

function run(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return undefined;
  }
}

/**
 * Candidate names a package database may know the file by: on merged-/usr systems dpkg records /bin/x and
 * /lib/x while the kernel reports /usr/bin/x.
 */
function pathVariants(path: string): string[] {
  const out = [path];
  try {
    const real = realpathSync(path);
    if (real !== path) out.push(real);
  } catch {
    /* the file may be gone: the name as seen is all we have */
  }
  for (const p of [...out]) {
    const m = /^\/usr(\/(?:s?bin|lib\d*)\/.*)$/.exec(p);
    if (m) out.push(m[1]!);
  }
  return out;
}

function dpkgVersion(path: string): { package: string; version: string } | undefined {
  for (const p of pathVariants(path)) {
    const owner = run('dpkg-query', ['-S', p]);
    if (!owner) continue;
    // "pkg[:arch][, other]: /path" — the first owner is enough.
    const pkg = owner.split('\n')[0]!.split(': ')[0]!.split(',')[0]!.trim();
    const version = run('dpkg-query', ['-W', '-f', '${Version}', pkg]);
    if (version) return { package: pkg, version };
  }
  return undefined;
}

function rpmVersion(path: string): { package: string; version: string } | undefined {
  for (const p of pathVariants(path)) {
    const out = run('rpm', ['-qf', '--qf', '%{NAME}\\t%{VERSION}-%{RELEASE}\\n', p]);
    const line = out?.split('\n')[0];
    const [pkg, version] = line?.split('\t') ?? [];
    if (pkg && version && !/not owned/.test(line!)) return { package: pkg, version };
  }
  return undefined;
}

const versionCache = new Map<string, AppVersion>();

/**
 * Version of the executable at `exe`: the caller's value when given; else the owning package's version (dpkg, then
 * rpm); else "build-id:HEX"; else "unknown". Cached by path, size, mtime and inode (package queries take
 * ~100 ms), so a replaced executable is looked up again.
 */
export function appVersion(exe: string, given?: string): AppVersion {
  let key = `${exe}\0${given ?? ''}`;
  try {
    const st = statSync(exe);
    key += `\0${st.size}\0${st.mtimeMs}\0${st.ino}`;
  } catch {
    /* unreadable: cache by name */
  }
  const hit = versionCache.get(key);
  if (hit) return hit;
  const buildId = exe ? readBuildId(exe) : undefined;
  const withId = (v: AppVersion): AppVersion => (buildId ? { ...v, buildId } : v);
  let v: AppVersion;
  if (given) v = withId({ version: given, source: 'given' });
  else {
    const deb = exe ? dpkgVersion(exe) : undefined;
    const rpm = exe && !deb ? rpmVersion(exe) : undefined;
    if (deb) v = withId({ version: `${deb.package} ${deb.version}`, source: 'dpkg', package: deb.package });
    else if (rpm) v = withId({ version: `${rpm.package} ${rpm.version}`, source: 'rpm', package: rpm.package });
    else if (buildId) v = { version: `build-id:${buildId}`, source: 'build-id', buildId };
    else v = { version: 'unknown', source: 'unknown' };
  }
  versionCache.set(key, v);
  return v;
}
