// Lists the addon's C++ sources for binding.gyp (gyp has no glob). CMakeLists.txt globs the same tree,
// so both build systems always compile the same files. Test-only sources (cpp/**/testing/) are excluded.
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function walk(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'testing' && entry.name !== 'scripts') out.push(...walk(full));
    } else if (entry.name.endsWith('.cc')) {
      out.push(relative(root, full));
    }
  }
  return out;
}

process.stdout.write(walk(join(root, 'cpp')).sort().join('\n') + '\n');
