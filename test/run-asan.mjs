// Builds the addon with ASan+UBSan into build-asan/ and runs the suites that exercise native code against it.
// Node itself is not instrumented, so the sanitizer runtimes are preloaded. Any sanitizer report fails the run.
import { spawnSync } from 'node:child_process';

function gccFile(name) {
  const r = spawnSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' });
  return r.stdout.trim();
}

const build = spawnSync('npm', ['run', 'build:native:asan'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

// Guard against a silently uninstrumented build (flags dropped by the build tool): the run would prove nothing.
const nm = spawnSync('nm', ['-D', 'build-asan/Release/parasight.node'], { encoding: 'utf8' });
if (!nm.stdout.includes('__asan_report')) {
  console.error('build-asan/Release/parasight.node is not instrumented with AddressSanitizer');
  process.exit(1);
}

const suites = process.argv.slice(2);
const env = {
  ...process.env,
  PARASIGHT_NATIVE_BUILD: 'asan',
  LD_PRELOAD: `${gccFile('libasan.so')}:${gccFile('libubsan.so')}`,
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:allow_user_segv_handler=1:handle_segv=0:handle_sigbus=0',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
};
const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...(suites.length ? suites : ['test/native', 'test/unit'])], {
  stdio: 'inherit',
  env,
});
process.exit(r.status ?? 1);
