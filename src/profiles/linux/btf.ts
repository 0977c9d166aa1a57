/**
 * BTF (the kernel's BPF Type Format, Documentation/bpf/btf.rst) → ISF user types. A vmlinux built with
 * DEBUG_INFO_BTF carries every kernel type in its .BTF section: the header, a type section of variable-length
 * records (type ids from 1), and a string section. We index all records, decode the ones asked for, and emit the
 * requested structs and everything they embed by value (pointers stay references by name).
 */
import { ParasightError } from '../../errors.js';
import type { IsfBaseType, IsfField, IsfType, IsfUserType } from '../isf.js';
import { cString } from './elf.js';

const BTF_MAGIC = 0xeb9f;

export enum BtfKind {
  Int = 1, Ptr, Array, Struct, Union, Enum, Fwd, Typedef, Volatile, Const, Restrict, Func, FuncProto, Var,
  Datasec, Float, DeclTag, TypeTag, Enum64,
}

export interface BtfMember {
  name: string;
  type: number;
  bitOffset: number;
  bitSize: number; // 0 unless a bitfield
}

export interface BtfType {
  id: number;
  kind: BtfKind;
  name: string;
  /** size (int, struct, union, enum, float, datasec) or referenced type id (ptr, typedef, modifiers, var, func). */
  sizeOrType: number;
  members?: BtfMember[];
  /** Array: element type and count. */
  elemType?: number;
  count?: number;
  /** Int: signedness, bit count. */
  signed?: boolean;
  bits?: number;
}

/** Bytes that follow a type's 12-byte record (its kind's extra data); `unknown` is called for a kind we do not know. */
function extraBytes(kind: BtfKind, vlen: number, unknown: () => never): number {
  switch (kind) {
    case BtfKind.Int: case BtfKind.Var: case BtfKind.DeclTag:
      return 4;
    case BtfKind.Array:
      return 12;
    case BtfKind.Struct: case BtfKind.Union: case BtfKind.Enum64: case BtfKind.Datasec:
      return 12 * vlen;
    case BtfKind.Enum: case BtfKind.FuncProto:
      return 8 * vlen;
    case BtfKind.Ptr: case BtfKind.Fwd: case BtfKind.Typedef: case BtfKind.Volatile: case BtfKind.Const:
    case BtfKind.Restrict: case BtfKind.Func: case BtfKind.Float: case BtfKind.TypeTag:
      return 0;
    default:
      return unknown();
  }
}

export class Btf {
  /** Number of type ids, void (0) included. */
  readonly count: number;
  readonly #dv: DataView;
  readonly #bytes: Uint8Array;
  readonly #strOff: number;
  /** Byte offset of each type's record (index = type id; 0 unused): records are decoded only when asked for. */
  readonly #records: Uint32Array;
  readonly #decoded = new Map<number, BtfType>();
  /** Struct/union ids by name, built on the first findStruct. */
  #structs: Map<string, number[]> | undefined;

  /**
   * Checks the header and walks the type section once, recording where each type starts (a record's length
   * follows from its kind and vlen); names and members are decoded lazily: a profile needs a few hundred of the
   * kernel's ~100,000 types.
   */
  constructor(bytes: Uint8Array, origin: string) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const bad = (what: string, offset: number) => new ParasightError(`${origin}: BTF ${what}`, { code: 'FORMAT', source: origin, offset });
    if (bytes.length < 24 || dv.getUint16(0, true) !== BTF_MAGIC) throw bad('magic 0xeb9f not found', 0);
    const hdrLen = dv.getUint32(4, true);
    const typeOff = hdrLen + dv.getUint32(8, true);
    const typeLen = dv.getUint32(12, true);
    const strOff = hdrLen + dv.getUint32(16, true);
    const strLen = dv.getUint32(20, true);
    if (typeOff + typeLen > bytes.length || strOff + strLen > bytes.length) throw bad('sections lie outside the data', 4);
    this.#dv = dv;
    this.#bytes = bytes;
    this.#strOff = strOff;
    // Every record is at least 12 bytes: an upper bound for the id table.
    const records = new Uint32Array(Math.floor(typeLen / 12) + 2);
    let id = 1;
    let p = typeOff;
    const end = typeOff + typeLen;
    while (p + 12 <= end) {
      records[id++] = p;
      const info = dv.getUint32(p + 4, true);
      const vlen = info & 0xffff;
      const kind = ((info >>> 24) & 0x1f) as BtfKind;
      p += 12 + extraBytes(kind, vlen, () => {
        throw bad(`unknown kind ${kind as number} at type ${id - 1}`, p);
      });
    }
    if (p > end) throw bad(`type ${id - 1} runs past the type section`, records[id - 1]!);
    this.count = id;
    this.#records = records.subarray(0, id);
  }

  #str(off: number): string {
    return off === 0 ? '' : cString(this.#bytes, this.#strOff + off, 1024);
  }

  /** The type with this id (undefined for void, 0, and ids past the last type). */
  type(id: number): BtfType | undefined {
    if (!Number.isInteger(id) || id <= 0 || id >= this.count) return undefined;
    const cached = this.#decoded.get(id);
    if (cached) return cached;
    const dv = this.#dv;
    let p = this.#records[id]!;
    const info = dv.getUint32(p + 4, true);
    const vlen = info & 0xffff;
    const kind = ((info >>> 24) & 0x1f) as BtfKind;
    const kindFlag = info >>> 31 === 1;
    const t: BtfType = { id, kind, name: this.#str(dv.getUint32(p, true)), sizeOrType: dv.getUint32(p + 8, true) };
    p += 12;
    switch (kind) {
      case BtfKind.Int: {
        const enc = dv.getUint32(p, true);
        t.signed = ((enc >>> 24) & 1) === 1;
        t.bits = enc & 0xff;
        break;
      }
      case BtfKind.Array:
        t.elemType = dv.getUint32(p, true);
        t.count = dv.getUint32(p + 8, true);
        break;
      case BtfKind.Struct:
      case BtfKind.Union:
        t.members = [];
        for (let i = 0; i < vlen; i++, p += 12) {
          const off = dv.getUint32(p + 8, true);
          t.members.push({
            name: this.#str(dv.getUint32(p, true)),
            type: dv.getUint32(p + 4, true),
            bitOffset: kindFlag ? off & 0xffffff : off,
            bitSize: kindFlag ? off >>> 24 : 0,
          });
        }
        break;
      default:
        break;
    }
    this.#decoded.set(id, t);
    return t;
  }

  /** The struct (or union) with this name that has members (not a forward declaration). */
  findStruct(name: string): BtfType | undefined {
    if (!this.#structs) {
      const structs = new Map<string, number[]>();
      for (let id = 1; id < this.count; id++) {
        const p = this.#records[id]!;
        const kind = (this.#dv.getUint32(p + 4, true) >>> 24) & 0x1f;
        if (kind !== BtfKind.Struct && kind !== BtfKind.Union) continue;
        const n = this.#str(this.#dv.getUint32(p, true));
        if (!n) continue;
        const list = structs.get(n);
        if (list) list.push(id);
        else structs.set(n, [id]);
      }
      this.#structs = structs;
    }
    for (const id of this.#structs.get(name) ?? []) {
      const t = this.type(id)!;
      if (t.members) return t;
    }
    return undefined;
  }

  /** Skips typedefs and const/volatile/restrict/type tags. */
  resolve(id: number): BtfType | undefined {
    let t = this.type(id);
    for (let guard = 0; t && guard < 64; guard++) {
      if (![BtfKind.Typedef, BtfKind.Volatile, BtfKind.Const, BtfKind.Restrict, BtfKind.TypeTag].includes(t.kind)) return t;
      t = this.type(t.sizeOrType);
    }
    return t;
  }

  sizeOf(id: number): number {
    const t = this.resolve(id);
    if (!t) return 0;
    switch (t.kind) {
      case BtfKind.Int: case BtfKind.Struct: case BtfKind.Union: case BtfKind.Enum: case BtfKind.Enum64:
      case BtfKind.Float:
        return t.sizeOrType;
      case BtfKind.Ptr:
        return 8;
      case BtfKind.Array:
        return (t.count ?? 0) * this.sizeOf(t.elemType ?? 0);
      default:
        return 0;
    }
  }
}

/** ISF name of a struct/union: its C name, or a stable name for an anonymous one. */
function userTypeName(t: BtfType): string {
  return t.name || `unnamed_${t.kind === BtfKind.Union ? 'union' : 'struct'}_${t.id}`;
}

/**
 * ISF user types for `roots` and every struct/union they embed by value; base types met on the way. Roots the BTF
 * does not have are returned in `missing`.
 */
export function btfToIsf(btf: Btf, roots: string[]): {
  userTypes: Record<string, IsfUserType>;
  baseTypes: Record<string, IsfBaseType>;
  missing: string[];
} {
  const userTypes: Record<string, IsfUserType> = {};
  const baseTypes: Record<string, IsfBaseType> = {
    pointer: { kind: 'int', size: 8, signed: false, endian: 'little' },
  };
  const missing: string[] = [];
  const queue: BtfType[] = [];
  for (const r of roots) {
    const t = btf.findStruct(r);
    if (t) queue.push(t);
    else missing.push(r);
  }

  const describe = (id: number, depth = 0): IsfType => {
    const t = btf.resolve(id);
    if (!t || depth > 16) return { kind: 'base', name: 'void' };
    switch (t.kind) {
      case BtfKind.Int:
      case BtfKind.Float:
        baseTypes[t.name] ??= { kind: t.kind === BtfKind.Float ? 'float' : t.name === '_Bool' ? 'bool' : 'int', size: t.sizeOrType, signed: t.signed === true, endian: 'little' };
        return { kind: 'base', name: t.name };
      case BtfKind.Ptr:
        return { kind: 'pointer', subtype: describeRef(t.sizeOrType, depth + 1) };
      case BtfKind.Array:
        return { kind: 'array', count: t.count ?? 0, subtype: describe(t.elemType ?? 0, depth + 1) };
      case BtfKind.Struct:
      case BtfKind.Union:
        if (t.members && !userTypes[userTypeName(t)]) queue.push(t);
        return { kind: t.kind === BtfKind.Union ? 'union' : 'struct', name: userTypeName(t) };
      case BtfKind.Enum:
      case BtfKind.Enum64:
        baseTypes[`enum:${t.sizeOrType}`] ??= { kind: 'int', size: t.sizeOrType, signed: false, endian: 'little' };
        return { kind: 'enum', name: t.name || `unnamed_enum_${t.id}` };
      case BtfKind.FuncProto:
        return { kind: 'function' };
      default:
        return { kind: 'base', name: 'void' };
    }
  };
  // Pointer targets are named, not expanded: a profile holds what walkers dereference, not the whole kernel.
  const describeRef = (id: number, depth: number): IsfType => {
    const t = btf.resolve(id);
    if (t && (t.kind === BtfKind.Struct || t.kind === BtfKind.Union || t.kind === BtfKind.Fwd)) {
      return { kind: t.kind === BtfKind.Union ? 'union' : 'struct', name: t.name || userTypeName(t) };
    }
    if (t && t.kind === BtfKind.Ptr) return { kind: 'pointer', subtype: describeRef(t.sizeOrType, depth + 1) };
    return describe(id, depth);
  };

  while (queue.length > 0) {
    const t = queue.shift()!;
    const name = userTypeName(t);
    if (userTypes[name]) continue;
    const ut: IsfUserType = { kind: t.kind === BtfKind.Union ? 'union' : 'struct', size: t.sizeOrType, fields: {} };
    userTypes[name] = ut;
    for (const m of t.members ?? []) {
      const byteOffset = Math.floor(m.bitOffset / 8);
      let type = describe(m.type);
      if (m.bitSize > 0) {
        type = { kind: 'bitfield', bit_position: m.bitOffset % 8, bit_length: m.bitSize, type };
      }
      const field: IsfField = { offset: byteOffset, type };
      if (m.name) ut.fields[m.name] = field;
      else ut.fields[`unnamed_field_${byteOffset}_${m.type}`] = { ...field, anonymous: true };
    }
  }
  return { userTypes, baseTypes, missing };
}
