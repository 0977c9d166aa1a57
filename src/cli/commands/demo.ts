/**
 * `parasight demo`: the main job. Live (root, QEMU and the prepared lab of a source checkout): boots the Linux lab
 * guest, injects code into a running guest program and shows the sensor catching it (demo-live.ts). Otherwise, or
 * with --offline: the VM sensor replays a bundled, synthetic capture of a Windows XP guest's traffic against the
 * guest's physical memory image, attributes every connection to its process by walking the guest kernel from
 * outside, and checks it against the process's policy. The synthetic guest is shaped like the public cridex
 * infection: explorer.exe carries injected code and calls its C2 server.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decompress } from '../../profiles/compressed.js';
import { EXIT_USAGE, UsageError, type Command } from '../command.js';
import { analyze } from './analyze.js';
import { loadLab, runLive } from '../demo-live.js';

const demoDir = fileURLToPath(new URL('../../../test/fixtures/demo/', import.meta.url));

/** The bundled inputs (shipped in the package beside dist/). */
export const demoInputs = {
  image: join(demoDir, 'cridex-xpsp3.raw.xz'),
  pcap: join(demoDir, 'cridex.pcap'),
  policy: join(demoDir, 'policy.yaml'),
};

export const demo: Command = {
  name: 'demo',
  summary: 'the main job: catch code injected into a running guest program (live lab guest, or a bundled offline replay)',
  usage: [
    'usage: parasight demo [--live | --offline] [--json] [--keep DIR]',
    '',
    'Live (root, QEMU, and a source checkout whose lab is prepared: bash .ci/setup): boots the Linux lab guest under',
    'QEMU, watches its tap with `parasight watch`, lets a guest program use the one destination its policy allows,',
    'then injects code into that running program from inside the guest (a ptrace injector makes it dlopen a',
    'library) which reaches elsewhere: one process.parasitized event with the program\'s pid, name and executable',
    'path. The guest, its tap and network namespace are',
    'removed at the end (also on Ctrl-C).',
    'Offline (without them, or --offline): replays the bundled SYNTHETIC capture against the bundled SYNTHETIC',
    'Windows XP memory image and policy, the same as',
    '  parasight analyze --memory cridex-xpsp3.raw --pcap cridex.pcap --rules policy.yaml',
    '',
    '  --live       require live mode: exit 2 with the reason when it cannot run',
    '  --offline    skip live mode',
    '  --json       live: the sensor\'s events as NDJSON; offline: the analyze JSON document with the events',
    '  --keep DIR   live: keep the capture of the tap (tcpdump), a memory dump taken while the injected connection',
    '               is open, the policy, the events and the guest\'s own process/socket view in DIR, for replay with',
    '               parasight analyze --pcap --memory (implies --live)',
    '',
    'exit status: 0 the demo caught what it should (the offline guest is infected by design: its findings are the',
    'point), 1 live mode ran but the expected detection did not happen, 2 input error or live mode required but',
    'unavailable',
  ].join('\n'),
  async run(argv) {
    let values: { json?: boolean; live?: boolean; offline?: boolean; keep?: string };
    try {
      ({ values } = parseArgs({
        args: argv,
        options: { json: { type: 'boolean' }, live: { type: 'boolean' }, offline: { type: 'boolean' }, keep: { type: 'string' } },
        strict: true,
      }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const needLive = values.live === true || values.keep !== undefined;
    if (needLive && values.offline) throw new UsageError('--offline cannot go with --live or --keep');
    if (!values.offline) {
      const lab = await loadLab();
      if (typeof lab !== 'string') return runLive(lab, { json: values.json === true, ...(values.keep !== undefined ? { keep: values.keep } : {}) });
      if (needLive) {
        process.stderr.write(`parasight demo: live mode cannot run: ${lab}\n`);
        return EXIT_USAGE;
      }
      process.stderr.write(`parasight demo: live mode unavailable (${lab});\nrunning the offline analyzer on the bundled synthetic capture and memory image instead.\n\n`);
    }
    return runOffline(values.json === true);
  },
};

async function runOffline(json: boolean): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'parasight-demo-'));
  try {
    const image = join(dir, 'cridex-xpsp3.raw');
    writeFileSync(image, decompress('xz', readFileSync(demoInputs.image), 1 << 30));
    if (!json) {
      process.stdout.write(
        'parasight demo (offline, SYNTHETIC input): a generated Windows XP SP3 guest memory image shaped like the public\n' +
          'cridex infection, a generated capture of its traffic as the host bridge would see it, and a per-program policy.\n' +
          'Every connection is attributed by reading the guest kernel from outside.\n\n',
      );
    }
    const code = await analyze.run(['--memory', image, '--pcap', demoInputs.pcap, '--rules', demoInputs.policy, ...(json ? ['--json'] : [])]);
    // analyze exits 1 when it finds denied connections: in the demo that is the expected outcome.
    return code === 1 ? 0 : code;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
