/**
 * Guest addresses as text: IPv4 dotted quads, IPv6 in RFC 5952 form (lower case, longest zero run compressed).
 * Internally every address is 16 bytes, IPv4 as ::ffff:a.b.c.d, so v4 and v6 sockets compare the same way.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { badArgument } from '../../errors.js';

export function isMappedV4(b: Uint8Array, at = 0): boolean {
  for (let i = 0; i < 10; i++) if (b[at + i] !== 0) return false;
  return b[at + 10] === 0xff && b[at + 11] === 0xff;
}

/** Text form of 16 bytes at `at`: IPv4 when `family` is 4, IPv6 otherwise. */
export function formatAddress(b: Uint8Array, at: number, family: 4 | 6): string {
  if (family === 4) return `${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((b[at + 2 * i]! << 8) | b[at + 2 * i + 1]!);
  if (isMappedV4(b, at)) return `::ffff:${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** 16-byte form of an address string (IPv4 → ::ffff:a.b.c.d). */
export function parseAddress(text: string, out: Uint8Array = new Uint8Array(16)): Uint8Array {
  out.fill(0);
  if (isIPv4(text)) {
    out[10] = 0xff;
    out[11] = 0xff;
    text.split('.').forEach((p, i) => (out[12 + i] = Number(p)));
    return out;
  }
  if (!isIPv6(text)) throw badArgument(`not an IP address: ${JSON.stringify(text)}`);
  let body = text;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (v4) {
    const parts = v4[1]!.split('.').map(Number);
    tail.push((parts[0]! << 8) | parts[1]!, (parts[2]! << 8) | parts[3]!);
    body = body.slice(0, -v4[1]!.length).replace(/:$/, '') || ':';
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const [head, rest] = body.includes('::') ? body.split('::') : [body, undefined];
  const parse = (s: string | undefined) => (s ? s.split(':').filter((x) => x !== '').map((x) => parseInt(x, 16)) : []);
  const h = parse(head);
  const r = [...parse(rest), ...tail];
  const words = rest === undefined && !body.includes('::') ? [...h, ...tail] : [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** Canonical text of any address string (what formatAddress would print for it). */
export function canonicalAddress(text: string): string {
  const b = parseAddress(text);
  return formatAddress(b, 0, isIPv4(text) ? 4 : 6);
}
