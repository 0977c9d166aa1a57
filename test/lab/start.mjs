// `npm run lab`: boots one lab guest for a person to look at, prints how to reach it, and tears it down on Ctrl-C.
//   npm run lab [-- --anon] [-- --nokaslr] [-- --kernel 6.12]
import { labUnavailable, startLab } from './lab.mjs';
import { KERNELS, prepareLab } from './prepare.mjs';

if (process.platform === 'linux' && process.getuid?.() !== 0) {
  console.error('npm run lab: needs root (it creates a network namespace, a bridge and a tap device).');
  process.exit(2);
}
const kernelArg = process.argv.indexOf('--kernel');
const kernel = kernelArg > 0 ? process.argv[kernelArg + 1] : KERNELS[0].name;
try {
  prepareLab({ download: true, kernel });
} catch (e) {
  console.error(`npm run lab: cannot prepare the guest: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
}
const why = labUnavailable(kernel);
if (why) {
  console.error(`npm run lab: ${why}`);
  process.exit(2);
}
const memory = process.argv.includes('--anon') ? 'anon' : 'shm';
const kaslr = !process.argv.includes('--nokaslr');
console.log(`booting a ${kaslr ? 'KASLR' : 'nokaslr'} guest (${memory === 'shm' ? 'RAM in /dev/shm' : 'anonymous RAM'})...`);
const lab = await startLab({ memory, kaslr, kernel });
const truth = await lab.truth();
console.log(`guest up: kernel ${lab.kernelVersion}, ${lab.accel}, ${truth.processes.length} processes
  QEMU pid        ${lab.pid}
  guest RAM       ${lab.ramPath ?? `anonymous (read through QEMU pid ${lab.pid})`}
  QMP socket      ${lab.qmpPath}
  serial console  ${lab.consolePath}
  network         netns ${lab.netns}: host ${lab.hostV4} / ${lab.hostV6}, guest ${lab.guestV4} / ${lab.guestV6},
                  host peer on port ${lab.peerPort} (TCP+UDP)
  try             parasight profile --kernel ${lab.vmlinuz} --out lab-profile.json
                  parasight analyze --memory ${lab.ramPath ?? '<the guest RAM file: start without --anon>'} --profile lab-profile.json
Ctrl-C stops the guest and removes the namespace.`);
const stop = async () => {
  await lab.stop();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
setInterval(() => undefined, 1 << 30);
