// The README's library example runs as written (only the image path is swapped for the bundled demo image), so
// the documented API cannot drift from the code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decompress } from '../../src/profiles/compressed.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;
let image: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parasight-readme-'));
  image = join(dir, 'guest.raw');
  writeFileSync(image, decompress('xz', readFileSync(join(root, 'test/fixtures/demo/cridex-xpsp3.raw.xz')), 1 << 30));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function example(name: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const m = readme.match(new RegExp(`<!-- example:${name}[^>]*-->\\s*\`\`\`js\\n([\\s\\S]*?)\`\`\``));
  if (!m) throw new Error(`README has no example:${name} block`);
  return m[1]!;
}

describe('README library example', () => {
  it('runs against the demo image and prints the owner of the C2 connection', () => {
    const code = example('library')
      .replace(`from 'parasight'`, `from ${JSON.stringify(join(root, 'dist', 'index.js'))}`)
      .replaceAll(`'guest.raw'`, JSON.stringify(image));
    const file = join(dir, 'example.mjs');
    writeFileSync(file, code);
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8' });
    expect(out).toMatch(/^windows .*pae paging, kernel page tables at 0x2fe000$/m);
    expect(out).toMatch(/172\.16\.112\.128:1038 -> 41\.168\.5\.140:8080 {2}1484 explorer\.exe/);
    expect(out).toMatch(/^owner: explorer\.exe 1484$/m);
    expect(out).toMatch(/^kernel image starts with MZ$/m);
    expect(out).toMatch(/^image hash [0-9a-f]{32}$/m);
  });
});
