/**
 * Profiles as data: Volatility 3 ISF (Intermediate Symbol Format) JSON, plain or .json.xz. We read the subset the
 * walkers need — struct sizes, field offsets, symbol addresses — so a new Windows build or Linux kernel is a new
 * file, not a code change. Both the built-in profiles and user-supplied real ISF files load through here.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { ParasightError, badArgument } from '../errors.js';
import { codecAt, decompress } from './compressed.js';

export interface IsfType {
  kind: string;
  name?: string;
  subtype?: IsfType;
  count?: number;
  type?: IsfType;
  bit_position?: number;
  bit_length?: number;
}

export interface IsfField {
  offset: number;
  type: IsfType;
  anonymous?: boolean;
}

export interface IsfUserType {
  kind: string;
  size: number;
  fields: Record<string, IsfField>;
}

export interface IsfBaseType {
  kind: string;
  size: number;
  signed: boolean;
  endian: 'little' | 'big';
}

export interface IsfSymbol {
  /** Kept exact: kernel addresses do not fit a double. */
  address: bigint;
  type?: IsfType;
  constant_data?: string;
}

export interface IsfDocument {
  metadata: Record<string, unknown> & { format: string };
  base_types: Record<string, IsfBaseType>;
  user_types: Record<string, IsfUserType>;
  enums: Record<string, unknown>;
  symbols: Record<string, IsfSymbol>;
}

const schema = {
  type: 'object',
  required: ['metadata', 'base_types', 'user_types', 'symbols'],
  properties: {
    metadata: { type: 'object', required: ['format'], properties: { format: { type: 'string' } } },
    base_types: { type: 'object' },
    enums: { type: 'object' },
    symbols: {
      type: 'object',
      additionalProperties: { type: 'object', properties: { address: { type: ['string', 'integer'] } } },
    },
    user_types: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        required: ['size', 'fields'],
        properties: {
          size: { type: 'integer', minimum: 0 },
          fields: {
            type: 'object',
            additionalProperties: {
              type: 'object',
              required: ['offset'],
              properties: { offset: { type: 'integer', minimum: 0 } },
            },
          },
        },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: false, allowUnionTypes: true }).compile(schema);

// Symbol addresses are written as plain JSON integers that JSON.parse would round. Quote long ones first.
const BIG_ADDRESS = /("address"\s*:\s*)(-?\d{16,})/g;

/** Parses ISF text (already decompressed). `origin` names the file in errors. */
export function parseIsf(text: string, origin: string): IsfDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(BIG_ADDRESS, '$1"$2"'));
  } catch (e) {
    throw new ParasightError(`${origin}: not valid JSON (${(e as Error).message})`, { code: 'FORMAT', source: origin });
  }
  if (!validate(raw)) {
    const first = validate.errors?.[0];
    throw new ParasightError(
      `${origin}: not an ISF symbol file: ${first?.instancePath || '/'} ${first?.message ?? 'is invalid'}`,
      { code: 'FORMAT', source: origin },
    );
  }
  const doc = raw as unknown as IsfDocument & { symbols: Record<string, { address: string | number }> };
  doc.enums ??= {};
  for (const sym of Object.values(doc.symbols)) {
    const a = BigInt(sym.address ?? 0);
    (sym as unknown as IsfSymbol).address = a < 0n ? a & 0xffff_ffff_ffff_ffffn : a;
  }
  return doc as unknown as IsfDocument;
}

/** Serialises an ISF document; symbol addresses are written as exact JSON integers. */
export function serializeIsf(doc: IsfDocument): string {
  const marked = JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? `@@big:${v.toString()}` : v));
  return marked.replace(/"@@big:(\d+)"/g, '$1');
}

/** A loaded profile: the questions walkers ask, with errors that name the profile, type and field. */
export class Profile {
  constructor(
    readonly name: string,
    readonly doc: IsfDocument,
  ) {}

  static load(path: string): Profile {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'IO';
      throw new ParasightError(`${path}: cannot read profile (${(e as Error).message})`, { code, source: path, cause: e });
    }
    const text = (codecAt(bytes) === 'xz' ? decompress('xz', bytes, 1 << 30) : Buffer.from(bytes)).toString('utf8');
    return new Profile(path, parseIsf(text, path));
  }

  save(path: string): void {
    writeFileSync(path, serializeIsf(this.doc));
  }

  /** "windows" | "linux" | undefined, from the metadata block Volatility writes. */
  get os(): 'windows' | 'linux' | undefined {
    if ('windows' in this.doc.metadata) return 'windows';
    if ('linux' in this.doc.metadata) return 'linux';
    return undefined;
  }

  hasType(type: string): boolean {
    return type in this.doc.user_types;
  }

  size(type: string): number {
    const t = this.doc.user_types[type] ?? this.doc.base_types[type];
    if (!t) throw this.#missing(`type ${type}`);
    return t.size;
  }

  /** Offset of a field, following dotted paths through embedded structs: offset('_EPROCESS', 'Pcb.DirectoryTableBase'). */
  offset(type: string, fieldPath: string): number {
    let current = type;
    let total = 0;
    for (const part of fieldPath.split('.')) {
      const t = this.doc.user_types[current];
      if (!t) throw this.#missing(`type ${current} (resolving ${type}.${fieldPath})`);
      const field = t.fields[part] ?? this.#anonymousField(t, part);
      if (!field) throw this.#missing(`field ${current}.${part}`);
      total += field.offset;
      current = field.type?.name ?? '';
    }
    return total;
  }

  hasField(type: string, fieldPath: string): boolean {
    try {
      this.offset(type, fieldPath);
      return true;
    } catch {
      return false;
    }
  }

  symbol(name: string): bigint | undefined {
    return this.doc.symbols[name]?.address;
  }

  requireSymbol(name: string): bigint {
    const a = this.symbol(name);
    if (a === undefined) throw this.#missing(`symbol ${name}`);
    return a;
  }

  /**
   * Resolves many "type.field.path" (or "sizeof:type") specs at once into numbers for a native walker; the error
   * lists every missing one, so a user supplying an incomplete ISF learns all that is missing in one go.
   */
  offsets<K extends string>(specs: Record<K, string>): Record<K, number> {
    const out = {} as Record<K, number>;
    const missing: string[] = [];
    for (const key of Object.keys(specs) as K[]) {
      const spec = specs[key];
      try {
        if (spec.startsWith('sizeof:')) out[key] = this.size(spec.slice(7));
        else {
          const dot = spec.indexOf('.');
          if (dot < 0) throw badArgument(`offset spec "${spec}" must be "type.field" or "sizeof:type"`);
          out[key] = this.offset(spec.slice(0, dot), spec.slice(dot + 1));
        }
      } catch (e) {
        if (e instanceof ParasightError && e.code === 'NOT_FOUND') missing.push(spec);
        else throw e;
      }
    }
    if (missing.length > 0) {
      throw new ParasightError(`profile ${this.name} lacks ${missing.join(', ')}`, { code: 'NOT_FOUND', source: this.name });
    }
    return out;
  }

  // Fields of anonymous unions/structs are reachable directly by name, as in C.
  #anonymousField(t: IsfUserType, name: string): IsfField | undefined {
    for (const f of Object.values(t.fields)) {
      if (!f.anonymous || !f.type?.name) continue;
      const inner = this.doc.user_types[f.type.name];
      const found = inner && (inner.fields[name] ?? this.#anonymousField(inner, name));
      if (found) return { ...found, offset: f.offset + found.offset };
    }
    return undefined;
  }

  #missing(what: string): ParasightError {
    return new ParasightError(`profile ${this.name} has no ${what}`, { code: 'NOT_FOUND', source: this.name });
  }
}
