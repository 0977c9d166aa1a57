// npm install hook. Uses a prebuilt binary when one matches this platform; otherwise compiles the addon
// from source WITHOUT downloading anything: node-gyp is pointed at the headers of the running Node.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);

function hasUsableBinary() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

function localNodeDir() {
  const candidates = [process.env.npm_config_nodedir, dirname(dirname(process.execPath)), '/usr'];
  return candidates.find((dir) => dir && existsSync(join(dir, 'include', 'node', 'node_api.h')));
}

function run(cmd, args, env) {
  const result = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  return result.status === 0;
}

if (process.env.PARASIGHT_SKIP_INSTALL_BUILD === '1' || hasUsableBinary()) process.exit(0);

// A development checkout has cmake-js (the default build); a user install has only node-gyp.
const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
if (existsSync(cmakeJs) && run(process.execPath, [cmakeJs, 'compile', '--out', 'build'])) process.exit(0);

const nodedir = localNodeDir();
if (!nodedir) {
  console.error('parasight: no prebuilt binary for this platform and no local Node headers (include/node/node_api.h).');
  console.error('parasight: install the Node development headers, or set npm_config_nodedir to a folder that has them.');
  process.exit(1);
}
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
process.exit(run(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`]) ? 0 : 1);
