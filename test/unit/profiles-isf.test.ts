import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Profile, parseIsf, serializeIsf } from '../../src/profiles/isf.js';

// A fragment shaped like a real Volatility 3 Linux ISF (field layout as emitted by dwarf2json).
const text = `{
  "metadata": {"format": "6.2.0", "linux": {"symbols": []}},
  "base_types": {"int": {"kind": "int", "size": 4, "signed": true, "endian": "little"}},
  "user_types": {
    "task_struct": {"kind": "struct", "size": 9792, "fields": {
      "pid": {"offset": 2416, "type": {"kind": "base", "name": "int"}},
      "": {"offset": 2432, "anonymous": true, "type": {"kind": "union", "name": "unnamed_1"}},
      "thread": {"offset": 64, "type": {"kind": "struct", "name": "thread_struct"}}}},
    "unnamed_1": {"kind": "union", "size": 8, "fields": {"real_parent": {"offset": 0, "type": {"kind": "pointer"}}}},
    "thread_struct": {"kind": "struct", "size": 16, "fields": {"sp": {"offset": 8, "type": {"kind": "base", "name": "long"}}}}
  },
  "enums": {},
  "symbols": {"init_task": {"address": 18446744071617129024}, "small": {"address": 4096}}
}`;

describe('ISF profiles', () => {
  it('keeps kernel symbol addresses exact', () => {
    const p = new Profile('t', parseIsf(text, 't'));
    expect(p.symbol('init_task')).toBe(18446744071617129024n);
    expect(p.symbol('small')).toBe(4096n);
    expect(p.os).toBe('linux');
  });

  it('resolves dotted and anonymous fields', () => {
    const p = new Profile('t', parseIsf(text, 't'));
    expect(p.offset('task_struct', 'pid')).toBe(2416);
    expect(p.offset('task_struct', 'thread.sp')).toBe(72);
    expect(p.offset('task_struct', 'real_parent')).toBe(2432);
    expect(p.offsets({ pid: 'task_struct.pid', size: 'sizeof:task_struct' })).toEqual({ pid: 2416, size: 9792 });
  });

  it('lists every missing field in one error', () => {
    const p = new Profile('t', parseIsf(text, 't'));
    expect(() => p.offsets({ a: 'task_struct.nope', b: 'mm_struct.pgd' })).toThrow(
      /lacks task_struct.nope, mm_struct.pgd/,
    );
  });

  it('round-trips through serialisation and .json.xz', () => {
    const doc = parseIsf(text, 't');
    const dir = mkdtempSync(join(tmpdir(), 'isf-'));
    const file = join(dir, 'p.json');
    writeFileSync(file, serializeIsf(doc));
    execFileSync('xz', ['-k', file]);
    const p = Profile.load(`${file}.xz`);
    expect(p.symbol('init_task')).toBe(18446744071617129024n);
    expect(p.size('task_struct')).toBe(9792);
  });

  it('rejects files that are not ISF with the path and the reason', () => {
    expect(() => parseIsf('{"metadata": {}}', 'bad.json')).toThrow(/bad.json: not an ISF symbol file/);
    expect(() => parseIsf('{', 'x.json')).toThrow(/x.json: not valid JSON/);
  });
});
