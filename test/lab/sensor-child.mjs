// Runs the real Sensor (built package) inside the bridge's network namespace: live capture on the bridge or tap
// with node-pcap, attribution on the sensor's worker thread through the Linux introspector on a QEMU guest's RAM or
// through NetnsIntrospector (registered in the worker by netns-opener.mjs).
// Prints events as NDJSON, "ready" once capturing and the guest is open, and the metrics as the last line after
// SIGTERM.
import { createSensor } from '../../dist/index.js';

const cfg = JSON.parse(process.argv[2]);
// A QEMU guest: its live RAM file; a namespace "guest": its /proc tables. Either is opened and walked off the event loop.
const guest = cfg.memory
  ? { memory: `live:${cfg.memory}`, introspection: { profile: cfg.profile } }
  : { memory: `netns:${cfg.guestNetns}`, introspection: { modules: [new URL('./netns-opener.mjs', import.meta.url).href] } };
const sensor = createSensor({
  policy: cfg.policy,
  emitAllowed: true,
  enforce: cfg.enforce === true,
  vms: [{ name: cfg.vm, iface: cfg.iface, guest: cfg.guest, ...guest, attribution: { minRefreshIntervalMs: 50 } }],
});
sensor.on('event', (e) => process.stdout.write(JSON.stringify({ event: e }) + '\n'));
sensor.on('error', (e) => process.stdout.write(JSON.stringify({ error: e.message }) + '\n'));
sensor.start();
await sensor.ready();
process.stdout.write(JSON.stringify({ ready: true }) + '\n');
process.on('SIGTERM', () => {
  // Give the ring buffer's last block (buffer timeout) a moment to arrive.
  setTimeout(() => {
    const metrics = sensor.metrics();
    // close() resolves once the worker thread has released the guest and ended.
    void sensor.close().then(() => process.stdout.write(JSON.stringify({ metrics }) + '\n', () => process.exit(0)));
  }, 200);
});
