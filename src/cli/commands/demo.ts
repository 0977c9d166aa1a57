/**
 * `parasight demo`: the main job on a bundled default input. Until the full sensor lands, it opens the bundled
 * memory image and reports its layout.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { openMemory } from '../../memory/open.js';
import { UsageError, type Command } from '../command.js';

const bundledImage = fileURLToPath(new URL('../../../test/fixtures/lime/deb-x86_64-slice.lime', import.meta.url));

export const demo: Command = {
  name: 'demo',
  summary: 'run the main job on the bundled default input',
  usage: ['usage: parasight demo [--json]', '', '  --json   one JSON document instead of text'].join('\n'),
  async run(argv) {
    let values: { json?: boolean };
    try {
      ({ values } = parseArgs({ args: argv, options: { json: { type: 'boolean' } }, strict: true }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const mem = openMemory(bundledImage);
    try {
      const report = {
        source: mem.origin,
        kind: mem.kind,
        size: mem.size.toString(),
        ranges: mem.ranges.map((r) => ({ start: `0x${r.start.toString(16)}`, length: r.length.toString() })),
      };
      process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : `${report.kind} ${report.source}: ${report.ranges.length} range(s)\n`);
      return 0;
    } finally {
      mem.close();
    }
  },
};
