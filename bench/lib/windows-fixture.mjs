// The Windows fixture builder (TypeScript, under test/fixtures/windows/) transpiled to ESM under build/bench, for
// trials that need a generated XP/2003 image.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from './harness.mjs';

/** { buildImage, cridex, zeus, generic, ... } from the fixture's builder and scenarios. */
export async function windowsFixture() {
  const ts = createRequire(import.meta.url)('typescript');
  const src = join(packageRoot, 'test', 'fixtures', 'windows');
  const out = join(packageRoot, 'build', 'bench', 'windows-fixture');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  for (const f of readdirSync(src).filter((x) => x.endsWith('.ts'))) {
    const js = ts.transpileModule(readFileSync(join(src, f), 'utf8'), { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } });
    writeFileSync(join(out, f.replace(/\.ts$/, '.js')), js.outputText);
  }
  const builder = await import(pathToFileURL(join(out, 'builder.js')).href);
  const scenarios = await import(pathToFileURL(join(out, 'scenarios.js')).href);
  return { ...builder, ...scenarios };
}
