// The test command (`npm test`): builds everything, type-checks, runs every vitest suite (unit, native, lab,
// inject), then runs the native suites again against the ASan+UBSan build. Fails on the first failing step.
import { spawnSync } from 'node:child_process';

function step(title, cmd, args, env = {}) {
  console.log(`\n=== ${title} ===`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  console.log(`=== ${title}: ${r.status === 0 ? 'ok' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s ===`);
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
step('build (native + TypeScript)', npm, ['run', 'build']);
step('type-check (src, test, bench)', npm, ['run', 'typecheck']);
step('all test suites', process.execPath, ['node_modules/vitest/vitest.mjs', 'run']);
step('sanitizer run (ASan + UBSan)', process.execPath, ['test/run-asan.mjs']);
