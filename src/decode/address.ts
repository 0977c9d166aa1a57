/**
 * IP addresses as 32-bit words: the flow table and the rule matcher compare words, never strings. IPv4 uses word 0
 * only (words 1..3 are zero); IPv6 uses all four, most significant first.
 */
import { badArgument } from '../errors.js';

export interface ParsedAddress {
  family: 4 | 6;
  words: Uint32Array;
}

export function formatIPv4(w: number): string {
  return `${w >>> 24}.${(w >>> 16) & 0xff}.${(w >>> 8) & 0xff}.${w & 0xff}`;
}

/** RFC 5952 text: lower case, longest run of zero groups (length >= 2) compressed, IPv4-mapped shown dotted. */
export function formatIPv6(words: ArrayLike<number>): string {
  const g: number[] = [];
  for (let i = 0; i < 4; i++) {
    const w = words[i]! >>> 0;
    g.push(w >>> 16, w & 0xffff);
  }
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIPv4(words[3]! >>> 0)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function formatAddress(family: number, words: ArrayLike<number>): string {
  return family === 6 ? formatIPv6(words) : formatIPv4(words[0]! >>> 0);
}

function parseIPv4Words(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let w = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    w = w * 256 + n;
  }
  return w >>> 0;
}

/** Parses an IPv4 or IPv6 address; `undefined` when the text is not one. */
export function tryParseAddress(text: string): ParsedAddress | undefined {
  const v4 = parseIPv4Words(text);
  if (v4 !== undefined) return { family: 4, words: Uint32Array.of(v4, 0, 0, 0) };
  if (!text.includes(':')) return undefined;
  let body = text;
  const zone = body.indexOf('%');
  if (zone >= 0) body = body.slice(0, zone);
  // A dotted IPv4 tail ("::ffff:1.2.3.4") is rewritten as its two hex groups.
  const lastColon = body.lastIndexOf(':');
  const last = body.slice(lastColon + 1);
  if (last.includes('.')) {
    const w = parseIPv4Words(last);
    if (w === undefined) return undefined;
    body = `${body.slice(0, lastColon + 1)}${(w >>> 16).toString(16)}:${(w & 0xffff).toString(16)}`;
  }
  const halves = body.split('::');
  if (halves.length > 2) return undefined;
  const parse = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    for (const h of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(h)) return undefined;
      out.push(parseInt(h, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !rest) return undefined;
  const explicit = head.length + rest.length;
  let groups: number[];
  if (halves.length === 2) {
    if (explicit > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - explicit).fill(0), ...rest];
  } else {
    if (explicit !== 8) return undefined;
    groups = head;
  }
  const words = new Uint32Array(4);
  for (let i = 0; i < 4; i++) words[i] = ((groups[2 * i]! << 16) | groups[2 * i + 1]!) >>> 0;
  return { family: 6, words };
}

export function parseAddress(text: string): ParsedAddress {
  const a = tryParseAddress(text);
  if (!a) throw badArgument(`not an IP address: ${JSON.stringify(text)}`);
  return a;
}

/** "aa:bb:cc:dd:ee:ff" → [high 16 bits, low 32 bits], the form the decoder stores. */
export function parseMac(text: string): [number, number] {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(text);
  if (!m) throw badArgument(`not a MAC address: ${JSON.stringify(text)}`);
  const b = m.slice(1).map((h) => parseInt(h, 16));
  return [(b[0]! << 8) | b[1]!, ((b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!) >>> 0];
}

export function formatMac(hi: number, lo: number): string {
  const b = [hi >>> 8, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}
