/**
 * `parasight demo`: the main job on the bundled default input — the VM sensor replays a capture of a Windows XP
 * guest's traffic against the guest's physical memory, attributes every connection to its process by walking the
 * guest kernel from outside, and checks it against the process's policy. The bundled guest is shaped like the
 * public cridex infection: explorer.exe carries injected code and calls its C2 server.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xzDecompress } from '../../profiles/xz.js';
import { UsageError, type Command } from '../command.js';
import { analyze } from './analyze.js';

const demoDir = fileURLToPath(new URL('../../../test/fixtures/demo/', import.meta.url));

/** The bundled inputs (shipped in the package beside dist/). */
export const demoInputs = {
  image: join(demoDir, 'cridex-xpsp3.raw.xz'),
  pcap: join(demoDir, 'cridex.pcap'),
  policy: join(demoDir, 'policy.yaml'),
};

export const demo: Command = {
  name: 'demo',
  summary: 'run the VM sensor on the bundled default (a Windows XP guest with an injected explorer.exe)',
  usage: [
    'usage: parasight demo [--json]',
    '',
    'Replays the bundled capture against the bundled guest memory image and policy, the same as',
    '  parasight analyze --memory cridex-xpsp3.raw --pcap cridex.pcap --rules policy.yaml',
    '',
    '  --json   one JSON document (the analyze document with the sensor events) instead of text',
    '',
    'exit status: 0 the demo ran (its guest is infected by design: the findings are the point), 2 input error',
  ].join('\n'),
  async run(argv) {
    let values: { json?: boolean };
    try {
      ({ values } = parseArgs({ args: argv, options: { json: { type: 'boolean' } }, strict: true }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const dir = mkdtempSync(join(tmpdir(), 'parasight-demo-'));
    try {
      const image = join(dir, 'cridex-xpsp3.raw');
      writeFileSync(image, xzDecompress(readFileSync(demoInputs.image), 1 << 30));
      if (!values.json) {
        process.stdout.write(
          'parasight demo: a Windows XP SP3 guest (bundled memory image), its traffic as captured on the host bridge, and a\n' +
            'per-program policy. Every connection is attributed by reading the guest kernel from outside.\n\n',
        );
      }
      const code = await analyze.run(['--memory', image, '--pcap', demoInputs.pcap, '--rules', demoInputs.policy, ...(values.json ? ['--json'] : [])]);
      // analyze exits 1 when it finds denied connections: in the demo that is the expected outcome.
      return code === 1 ? 0 : code;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
