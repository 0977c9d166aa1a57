#!/usr/bin/env node
// Benchmark runner: builds the package, runs every trial (bench/trials/*.mjs, or those whose name contains one of
// the arguments) in its own child process, prints a markdown table (p50/p99, per-item time, throughput, and each
// figure's ratio to the reference measured in the same trial) and writes the rows to bench/results/.
//
//   npm run bench                       all trials
//   npm run bench -- translate hash     trials whose file name contains "translate" or "hash"
//   npm run bench -- --quick            short runs, for a smoke test
//   npm run bench -- --no-build         skip the TypeScript/native build step
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchRoot, packageRoot, scratchRoot } from './lib/harness.mjs';
import { formatTable } from './lib/table.mjs';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const build = !args.includes('--no-build');
const filters = args.filter((a) => !a.startsWith('--'));

function sh(cmd, cmdArgs) {
  const r = spawnSync(cmd, cmdArgs, { cwd: packageRoot, stdio: 'inherit', env: { ...process.env, npm_config_nodedir: process.env.npm_config_nodedir ?? '/usr' } });
  if (r.status !== 0) {
    console.error(`${cmd} ${cmdArgs.join(' ')} failed`);
    process.exit(r.status ?? 1);
  }
}

if (build) {
  sh('npx', ['cmake-js', 'compile', '--out', 'build']);
  sh('npx', ['tsc', '-p', 'tsconfig.build.json']);
}

const trialsDir = join(benchRoot, 'trials');
const trials = readdirSync(trialsDir)
  .filter((f) => f.endsWith('.mjs'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (trials.length === 0) {
  console.error(`no trial matches ${filters.join(', ')}`);
  process.exit(2);
}

// Generated inputs go to a directory of this run only (several runs may share the machine), removed at the end.
const scratch = mkdtempSync(join(scratchRoot, 'parasight-benchrun-'));
const rows = [];
let failed = 0;
for (const file of trials) {
  process.stderr.write(`trial ${file} ...\n`);
  const r = spawnSync(process.execPath, [join(trialsDir, file)], {
    cwd: packageRoot,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, PARASIGHT_BENCH_QUICK: quick ? '1' : '0', PARASIGHT_BENCH_DIR: scratch },
  });
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('PARASIGHT_BENCH_ROW ')) rows.push(JSON.parse(line.slice('PARASIGHT_BENCH_ROW '.length)));
  }
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`trial ${file} failed (exit ${r.status}):\n${r.stderr}\n`);
  }
}

rmSync(scratch, { recursive: true, force: true });

console.log(formatTable(rows));
const resultsDir = join(benchRoot, 'results');
mkdirSync(resultsDir, { recursive: true });
const doc = {
  date: new Date().toISOString(),
  node: process.version,
  quick,
  rows,
};
const stamp = doc.date.replace(/[:.]/g, '-');
writeFileSync(join(resultsDir, `${stamp}.json`), JSON.stringify(doc, null, 2));
writeFileSync(join(resultsDir, 'latest.json'), JSON.stringify(doc, null, 2));
console.error(`results: bench/results/${stamp}.json`);
process.exit(failed ? 1 : 0);
