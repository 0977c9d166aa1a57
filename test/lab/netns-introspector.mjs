// A GuestIntrospector for a network namespace standing in for a VM: it reads the namespace's socket tables and its
// processes from the host's /proc (sockets → inodes → /proc/PID/fd links), the way the memory walkers read a guest
// kernel's tables. Used by the live-bridge sensor test until the QEMU lab's introspector takes its place.
import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';

const TCP_STATES = { '01': 'ESTABLISHED', '02': 'SYN_SENT', '03': 'SYN_RECV', '04': 'FIN_WAIT1', '05': 'FIN_WAIT2', '06': 'TIME_WAIT', '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0A': 'LISTEN', '0B': 'CLOSING' };

function v4(hex) {
  // /proc prints the address in host byte order (little-endian here).
  const n = parseInt(hex, 16);
  return `${n & 255}.${(n >>> 8) & 255}.${(n >>> 16) & 255}.${n >>> 24}`;
}
function v6(hex) {
  const groups = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    const bytes = word.match(/../g).reverse().join('');
    groups.push(bytes.slice(0, 4), bytes.slice(4, 8));
  }
  return groups.map((g) => parseInt(g, 16).toString(16)).join(':');
}

export class NetnsIntrospector {
  constructor(nsName) {
    this.nsIno = statSync(`/run/netns/${nsName}`).ino;
    this.ns = nsName;
    this.refreshes = 0;
    this.refresh();
  }
  inNs(pid) {
    try {
      return statSync(`/proc/${pid}/ns/net`).ino === this.nsIno;
    } catch {
      return false;
    }
  }
  refresh() {
    this.refreshes++;
    const problems = [];
    const procs = [];
    const inodeToPid = new Map();
    const bootTicks = 100; // USER_HZ
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d) || !this.inNs(d)) continue;
      const pid = Number(d);
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        let path;
        try {
          path = readlinkSync(`/proc/${pid}/exe`);
        } catch {}
        procs.push({
          pid,
          ppid: Number(after[1]),
          name: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(),
          path,
          createTime: (Number(after[19]) / bootTicks) * 1000,
          createTimeBase: 'boot',
          address: 0n,
          foundBy: 'proc',
        });
        for (const fd of readdirSync(`/proc/${pid}/fd`)) {
          try {
            const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
            if (m && !inodeToPid.has(m[1])) inodeToPid.set(m[1], pid);
          } catch {}
        }
      } catch (e) {
        problems.push({ code: 'GONE', message: `process ${pid}: ${e.message}`, walk: 'proc' });
      }
    }
    const anyPid = procs[0]?.pid;
    const conns = [];
    const socks = [];
    for (const [file, proto, family] of [['tcp', 'tcp', 4], ['tcp6', 'tcp', 6], ['udp', 'udp', 4], ['udp6', 'udp', 6]]) {
      if (anyPid === undefined) break;
      let text;
      try {
        text = readFileSync(`/proc/${anyPid}/net/${file}`, 'utf8');
      } catch (e) {
        problems.push({ code: 'GONE', message: e.message, walk: file });
        continue;
      }
      for (const line of text.trim().split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        const [la, lp] = f[1].split(':');
        const [ra, rp] = f[2].split(':');
        const pid = inodeToPid.get(f[9]);
        if (pid === undefined) continue;
        const local = family === 4 ? v4(la) : v6(la);
        const remote = family === 4 ? v4(ra) : v6(ra);
        const rport = parseInt(rp, 16);
        const state = proto === 'tcp' ? (TCP_STATES[f[3]] ?? f[3]) : '';
        if ((proto === 'udp' && rport === 0) || state === 'LISTEN') {
          socks.push({ proto, family, localAddress: local, localPort: parseInt(lp, 16), pid, foundBy: `proc-${file}`, address: 0n });
        } else {
          conns.push({ proto, family, localAddress: local, localPort: parseInt(lp, 16), remoteAddress: remote, remotePort: rport, state, pid, foundBy: `proc-${file}`, address: 0n });
        }
      }
    }
    this.snapshot = { procs, conns, socks, problems };
  }
  info() {
    return { os: 'linux', version: 'netns', profile: 'host-proc', paging: 'ia32e', dtb: 0n, kernelBase: 0n, problems: [] };
  }
  processes() {
    return { items: this.snapshot.procs, problems: this.snapshot.problems };
  }
  connections() {
    return { items: this.snapshot.conns, problems: [] };
  }
  sockets() {
    return { items: this.snapshot.socks, problems: [] };
  }
  lookupConnection(t) {
    const c = this.snapshot.conns.find((c) => c.proto === t.proto && c.localPort === t.localPort && c.remotePort === t.remotePort && c.remoteAddress === t.remoteAddress);
    return c ? { pid: c.pid, process: this.snapshot.procs.find((p) => p.pid === c.pid), connection: c, answeredFrom: 'snapshot' } : undefined;
  }
  memoryMap() {
    return { items: [], problems: [] };
  }
  close() {}
}
