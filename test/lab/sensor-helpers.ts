// Shared by the sensor's live suites: a line-oriented child process with a wait-for helper, and the built package
// the sensor child runs (rebuilt when the sources are newer; CI builds before testing).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../../', import.meta.url));

/** Line-oriented child with a wait-for helper. */
export class Child {
  readonly lines: string[] = [];
  private waiters: Array<() => void> = [];
  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      this.lines.push(l);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async waitFor(pred: (line: string) => boolean, what: string, timeoutMs = 15_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit !== undefined) return hit;
      if (this.proc.exitCode !== null) throw new Error(`child exited (${this.proc.exitCode}) while waiting for ${what}; got:\n${this.lines.slice(-20).join('\n')}`);
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got:\n${this.lines.slice(-20).join('\n')}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }
  send(line: string): void {
    this.proc.stdin!.write(line + '\n');
  }
}

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

export function ensureBuilt(): void {
  let built = 0;
  try {
    built = statSync(join(root, 'dist/index.js')).mtimeMs;
  } catch {}
  if (built < newestMtime(join(root, 'src'))) {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  }
}
