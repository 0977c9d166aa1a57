// Runs the real Sensor (built package) inside the bridge's network namespace: live capture on the bridge or tap
// with node-pcap, attribution through the Linux introspector on a QEMU guest's RAM or through NetnsIntrospector.
// Prints events as NDJSON, "ready" once capturing, and the metrics as the last line after SIGTERM.
import { createSensor, openIntrospector, openMemory } from '../../dist/index.js';
import { NetnsIntrospector } from './netns-introspector.mjs';

const cfg = JSON.parse(process.argv[2]);
// A QEMU guest: its live RAM file walked with the Linux introspector; a namespace "guest": its /proc tables.
const introspector = cfg.memory
  ? openIntrospector(openMemory({ kind: 'live-file', path: cfg.memory }), { profile: cfg.profile })
  : new NetnsIntrospector(cfg.guestNetns);
const sensor = createSensor({
  policy: cfg.policy,
  emitAllowed: true,
  enforce: cfg.enforce === true,
  vms: [{ name: cfg.vm, iface: cfg.iface, guest: cfg.guest, introspector, attribution: { minRefreshIntervalMs: 50 } }],
});
sensor.on('event', (e) => process.stdout.write(JSON.stringify({ event: e }) + '\n'));
sensor.on('error', (e) => process.stdout.write(JSON.stringify({ error: e.message }) + '\n'));
sensor.start();
process.stdout.write(JSON.stringify({ ready: true }) + '\n');
process.on('SIGTERM', () => {
  // Give the ring buffer's last block (buffer timeout) a moment to arrive.
  setTimeout(() => {
    const metrics = sensor.metrics();
    sensor.close();
    process.stdout.write(JSON.stringify({ metrics }) + '\n', () => process.exit(0));
  }, 200);
});
