// What the trials on the Linux lab guest share: the lab's modules (the trial is skipped, with the reason, when the
// lab cannot run here), one-item rows emitted as they are measured, and the closing table of them on stdout.
import { join } from 'node:path';
import { emit, packageRoot, row } from './harness.mjs';

/** { ...lab.mjs, ...prepare.mjs, addRow, printTable } for `trial`; exits 0 when the lab is unavailable. */
export async function labTrial(trial) {
  const lab = await import(join(packageRoot, 'test', 'lab', 'lab.mjs'));
  const prepare = await import(join(packageRoot, 'test', 'lab', 'prepare.mjs'));
  const why = lab.labUnavailable();
  if (why) {
    process.stderr.write(`${trial}: skipped: ${why}\n`);
    process.exit(0);
  }
  const rows = [];
  const addRow = (name, samplesNs, { reference = false, note } = {}) => {
    const r = row({ trial, name, samplesNs, items: 1, reference, note });
    rows.push(r);
    emit(r);
  };
  const printTable = () => {
    const fmt = (ns) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(1)} µs` : `${ns} ns`);
    process.stdout.write(`\n| ${trial} | p50 | p99 | samples | note |\n|---|---|---|---|---|\n`);
    for (const r of rows) process.stdout.write(`| ${r.name} | ${fmt(r.p50Ns)} | ${fmt(r.p99Ns)} | ${r.samples} | ${r.note ?? ''} |\n`);
  };
  return { ...lab, ...prepare, addRow, printTable };
}
