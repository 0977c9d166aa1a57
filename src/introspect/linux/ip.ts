/**
 * Guest addresses as text: IPv4 dotted quads, IPv6 in RFC 5952 form (lower case, longest zero run compressed).
 * Internally every address is 16 bytes, IPv4 as ::ffff:a.b.c.d, so v4 and v6 sockets compare the same way.
 */
import { badArgument } from '../../errors.js';

export function isMappedV4(b: Uint8Array, at = 0): boolean {
  for (let i = 0; i < 10; i++) if (b[at + i] !== 0) return false;
  return b[at + 10] === 0xff && b[at + 11] === 0xff;
}

/** Text form of 16 bytes at `at`: IPv4 when `family` is 4, IPv6 otherwise. Hand-rolled: it runs per socket. */
export function formatAddress(b: Uint8Array, at: number, family: 4 | 6): string {
  if (family === 4) return `${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
  if (isMappedV4(b, at)) return `::ffff:${b[at + 12]}.${b[at + 13]}.${b[at + 14]}.${b[at + 15]}`;
  // Longest run of zero words (at least two) is compressed to "::" (RFC 5952).
  let bestStart = -1;
  let bestLen = 1;
  let runStart = -1;
  for (let i = 0; i <= 8; i++) {
    const zero = i < 8 && b[at + 2 * i] === 0 && b[at + 2 * i + 1] === 0;
    if (zero && runStart < 0) runStart = i;
    if (!zero && runStart >= 0) {
      if (i - runStart > bestLen) {
        bestStart = runStart;
        bestLen = i - runStart;
      }
      runStart = -1;
    }
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out.length > 0 && !out.endsWith(':')) out += ':';
    out += ((b[at + 2 * i]! << 8) | b[at + 2 * i + 1]!).toString(16);
  }
  return out;
}

function parseV4(text: string, out: Uint8Array, at: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || value > 255 || part > 3) return false;
      out[at + part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      value = value * 10 + (c - 48);
      digits++;
    } else {
      return false;
    }
  }
  return part === 4;
}

/** 16-byte form of an address string (IPv4 → ::ffff:a.b.c.d). Hand-rolled: it runs per lookup. */
export function parseAddress(text: string, out: Uint8Array = new Uint8Array(16)): Uint8Array {
  out.fill(0);
  if (parseV4(text, out, 12)) {
    out[10] = 0xff;
    out[11] = 0xff;
    return out;
  }
  out.fill(0);
  const bad = () => badArgument(`not an IP address: ${JSON.stringify(text)}`);
  const words: number[] = [];
  let gap = -1;
  let i = 0;
  if (text.startsWith('::')) {
    gap = 0;
    i = 2;
  }
  while (i < text.length) {
    let j = i;
    let value = 0;
    while (j < text.length && j - i < 4) {
      const c = text.charCodeAt(j);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      value = value * 16 + d;
      j++;
    }
    if (j < text.length && text.charCodeAt(j) === 46) {
      // Trailing dotted IPv4 (::ffff:1.2.3.4).
      const v4 = new Uint8Array(4);
      if (!parseV4(text.slice(i), v4, 0)) throw bad();
      words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      i = text.length;
      break;
    }
    if (j === i) throw bad();
    words.push(value);
    if (j === text.length) {
      i = j;
      break;
    }
    if (text.charCodeAt(j) !== 58) throw bad();
    if (text.charCodeAt(j + 1) === 58) {
      if (gap >= 0) throw bad();
      gap = words.length;
      i = j + 2;
    } else {
      i = j + 1;
      if (i === text.length) throw bad();
    }
  }
  if (words.length > 8 || (gap < 0 && words.length !== 8) || (gap >= 0 && words.length > 7)) throw bad();
  const tail = gap < 0 ? 0 : words.length - gap;
  for (let k = 0; k < words.length; k++) {
    const slot = gap >= 0 && k >= gap ? 8 - tail + (k - gap) : k;
    out[2 * slot] = words[k]! >> 8;
    out[2 * slot + 1] = words[k]! & 0xff;
  }
  return out;
}

/** Canonical text of any address string (what formatAddress would print for it). */
export function canonicalAddress(text: string): string {
  const b = parseAddress(text);
  return formatAddress(b, 0, text.includes(':') ? 6 : 4);
}
