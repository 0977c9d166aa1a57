/**
 * Written code pages: a private, executable file mapping whose page is no longer the file's page. Code pages are
 * never written in normal operation, so the kernel hands out a private (anonymous) copy only when something wrote
 * into the text: ptrace POKETEXT or a /proc/PID/mem write (code caves, hooks, an injector's trampoline — even one
 * that restored the original bytes afterwards), a debugger's breakpoint, a uprobe, or a loader relocating a TEXTREL
 * library. /proc/PID/pagemap says which pages those are: present and not "file page" (bit 61 clear), or swapped
 * (bit 62; only anonymous pages go to swap). The page is the evidence, not its bytes, so content-identical patches
 * are found too. Reading pagemap costs about 0.4 µs per mapped page here, hence the opt-in (`codePages`).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import type { Problem } from '../introspect/types.js';
import { isExec } from './maps.js';
import type { MapEntry, ModifiedCode } from './types.js';

const PAGE = 4096n;
const PRESENT = 1n << 63n;
const SWAPPED = 1n << 62n;
const FILE_PAGE = 1n << 61n;
// Pagemap entries read per call: 512 KiB of buffer covers 256 MiB of a mapping.
const CHUNK_PAGES = 1 << 16;

/** Private executable mappings of regular files: the only ones whose pages must stay the file's pages. */
export function isPrivateFileCode(e: MapEntry): boolean {
  return e.kind === 'file' && !e.shared && isExec(e);
}

/**
 * Written code pages of `pid` per mapping (only mappings with at least one); a pagemap that cannot be read is a
 * problem, not an exception (the process exited, or no ptrace access).
 */
export function modifiedCodePages(pid: number, entries: readonly MapEntry[]): { items: ModifiedCode[]; problems: Problem[] } {
  const items: ModifiedCode[] = [];
  const code = entries.filter(isPrivateFileCode);
  if (code.length === 0) return { items, problems: [] };
  let fd: number;
  try {
    fd = openSync(`/proc/${pid}/pagemap`, 'r');
  } catch (e) {
    return { items, problems: [pagemapProblem(pid, e)] };
  }
  const buf = new BigUint64Array(CHUNK_PAGES);
  const bytes = new Uint8Array(buf.buffer);
  try {
    for (const e of code) {
      let pages = 0;
      let first: bigint | undefined;
      for (let page = e.start / PAGE; page < e.end / PAGE; ) {
        const want = Number(e.end / PAGE - page < BigInt(CHUNK_PAGES) ? e.end / PAGE - page : BigInt(CHUNK_PAGES));
        const got = readSync(fd, bytes, 0, want * 8, Number(page * 8n)) >> 3;
        if (got === 0) break;
        for (let i = 0; i < got; i++) {
          const v = buf[i]!;
          if ((v & SWAPPED) !== 0n || ((v & PRESENT) !== 0n && (v & FILE_PAGE) === 0n)) {
            pages++;
            first ??= (page + BigInt(i)) * PAGE;
          }
        }
        page += BigInt(got);
      }
      if (first !== undefined) items.push({ path: e.listName, start: e.start, end: e.end, perms: e.perms, pages, first });
    }
  } catch (e) {
    return { items, problems: [pagemapProblem(pid, e)] };
  } finally {
    closeSync(fd);
  }
  return { items, problems: [] };
}

function pagemapProblem(pid: number, e: unknown): Problem {
  const errno = (e as NodeJS.ErrnoException).code;
  const code = errno === 'ENOENT' || errno === 'ESRCH' ? 'GONE' : 'PERMISSION';
  return { code, message: `pid ${pid}: cannot read pagemap to check code pages (${(e as Error).message})`, walk: 'proc-pagemap' };
}
