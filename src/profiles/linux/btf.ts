/**
 * BTF (the kernel's BPF Type Format, Documentation/bpf/btf.rst) → ISF user types. A vmlinux built with
 * DEBUG_INFO_BTF carries every kernel type in its .BTF section: the header, a type section of variable-length
 * records (type ids from 1), and a string section. We parse all records, then emit the requested structs and
 * everything they embed by value (pointers stay references by name).
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

export class Btf {
  /** types[id]; index 0 is void (undefined). */
  readonly types: Array<BtfType | undefined> = [undefined];
  readonly #byName = new Map<string, number[]>();

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
    const str = (off: number) => (off === 0 ? '' : cString(bytes, strOff + off, 1024));
    let p = typeOff;
    const end = typeOff + typeLen;
    while (p + 12 <= end) {
      const nameOff = dv.getUint32(p, true);
      const info = dv.getUint32(p + 4, true);
      const sizeOrType = dv.getUint32(p + 8, true);
      const vlen = info & 0xffff;
      const kind = ((info >>> 24) & 0x1f) as BtfKind;
      const kindFlag = info >>> 31 === 1;
      const t: BtfType = { id: this.types.length, kind, name: str(nameOff), sizeOrType };
      p += 12;
      switch (kind) {
        case BtfKind.Int: {
          const enc = dv.getUint32(p, true);
          t.signed = ((enc >>> 24) & 1) === 1;
          t.bits = enc & 0xff;
          p += 4;
          break;
        }
        case BtfKind.Array:
          t.elemType = dv.getUint32(p, true);
          t.count = dv.getUint32(p + 8, true);
          p += 12;
          break;
        case BtfKind.Struct:
        case BtfKind.Union:
          t.members = [];
          for (let i = 0; i < vlen; i++, p += 12) {
            const off = dv.getUint32(p + 8, true);
            t.members.push({
              name: str(dv.getUint32(p, true)),
              type: dv.getUint32(p + 4, true),
              bitOffset: kindFlag ? off & 0xffffff : off,
              bitSize: kindFlag ? off >>> 24 : 0,
            });
          }
          break;
        case BtfKind.Enum:
          p += 8 * vlen;
          break;
        case BtfKind.Enum64:
          p += 12 * vlen;
          break;
        case BtfKind.FuncProto:
          p += 8 * vlen;
          break;
        case BtfKind.Var:
        case BtfKind.DeclTag:
          p += 4;
          break;
        case BtfKind.Datasec:
          p += 12 * vlen;
          break;
        case BtfKind.Ptr: case BtfKind.Fwd: case BtfKind.Typedef: case BtfKind.Volatile: case BtfKind.Const:
        case BtfKind.Restrict: case BtfKind.Func: case BtfKind.Float: case BtfKind.TypeTag:
          break;
        default:
          throw bad(`unknown kind ${kind as number} at type ${t.id}`, p - 12);
      }
      this.types.push(t);
      if (t.name) {
        const list = this.#byName.get(t.name);
        if (list) list.push(t.id);
        else this.#byName.set(t.name, [t.id]);
      }
    }
  }

  /** The struct (or union) with this name that has members (not a forward declaration). */
  findStruct(name: string): BtfType | undefined {
    for (const id of this.#byName.get(name) ?? []) {
      const t = this.types[id]!;
      if ((t.kind === BtfKind.Struct || t.kind === BtfKind.Union) && t.members) return t;
    }
    return undefined;
  }

  /** Skips typedefs and const/volatile/restrict/type tags. */
  resolve(id: number): BtfType | undefined {
    let t = this.types[id];
    for (let guard = 0; t && guard < 64; guard++) {
      if (![BtfKind.Typedef, BtfKind.Volatile, BtfKind.Const, BtfKind.Restrict, BtfKind.TypeTag].includes(t.kind)) return t;
      t = this.types[t.sizeOrType];
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
