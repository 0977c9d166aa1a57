// Builds prebuilds/<platform>-<arch>/parasight.node with prebuildify (node-gyp under the hood), offline:
// node-gyp is given the running Node's headers instead of downloading them.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const nodedir = [process.env.npm_config_nodedir, dirname(dirname(process.execPath)), '/usr'].find(
  (dir) => dir && existsSync(join(dir, 'include', 'node', 'node_api.h')),
);
if (!nodedir) {
  console.error('prebuild: no local Node headers found (include/node/node_api.h)');
  process.exit(2);
}
const bin = join(root, 'node_modules', 'prebuildify', 'bin.js');
const result = spawnSync(process.execPath, [bin, '--napi', '--strip', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, npm_config_nodedir: nodedir },
});
process.exit(result.status ?? 1);
