/**
 * `parasight profile --kernel VMLINUZ [--system-map FILE] --out FILE`: a Linux profile (ISF JSON) from a kernel
 * image: struct offsets from its BTF, symbols from its embedded kallsyms tables or from a System.map.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { basename } from 'node:path';
import { serializeIsf } from '../../profiles/isf.js';
import { generateLinuxProfile } from '../../profiles/linux/generate.js';
import { ParasightError } from '../../errors.js';
import { UsageError, type Command } from '../command.js';

export const profile: Command = {
  name: 'profile',
  summary: 'generate a Linux profile (ISF JSON) from a kernel image',
  usage: [
    'usage: parasight profile --kernel VMLINUZ [--system-map FILE] --out FILE [--json]',
    '',
    '  --kernel FILE       kernel image: a bzImage (XZ or gzip payload) or an uncompressed vmlinux ELF with BTF',
    '  --system-map FILE   take symbols from this System.map instead of the kallsyms tables inside the image',
    '  --out FILE          where to write the profile (ISF JSON)',
    '  --json              print a JSON summary instead of text',
  ].join('\n'),
  async run(argv) {
    let values: { kernel?: string; 'system-map'?: string; out?: string; json?: boolean };
    try {
      ({ values } = parseArgs({
        args: argv,
        options: {
          kernel: { type: 'string' },
          'system-map': { type: 'string' },
          out: { type: 'string' },
          json: { type: 'boolean' },
        },
        strict: true,
      }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (!values.kernel) throw new UsageError('--kernel is required');
    if (!values.out) throw new UsageError('--out is required');
    const read = (path: string): Buffer => {
      try {
        return readFileSync(path);
      } catch (e) {
        throw new ParasightError(`${path}: ${(e as Error).message}`, { code: 'NOT_FOUND', source: path, cause: e });
      }
    };
    const image = read(values.kernel);
    const systemMap = values['system-map'] ? read(values['system-map']).toString('utf8') : undefined;
    const doc = generateLinuxProfile(image, { origin: basename(values.kernel), ...(systemMap !== undefined ? { systemMap } : {}) });
    writeFileSync(values.out, serializeIsf(doc));
    const linux = doc.metadata.linux as { release: string; symbols: string };
    const summary = {
      out: values.out,
      release: linux.release,
      types: Object.keys(doc.user_types).length,
      symbols: Object.keys(doc.symbols).length,
      symbolSource: linux.symbols,
    };
    process.stdout.write(
      values.json
        ? `${JSON.stringify(summary)}\n`
        : `${summary.out}: Linux ${summary.release}, ${summary.types} types (BTF), ${summary.symbols} symbols (${summary.symbolSource})\n`,
    );
    return 0;
  },
};
