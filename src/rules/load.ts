/**
 * Loads a policy file (YAML or JSON: JSON is parsed by the YAML parser too, so both get line numbers), validates it
 * with the JSON Schema, and compiles it. Every error names the file, line, column and field.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, parseDocument, isNode, type Document } from 'yaml';
import { ParasightError } from '../errors.js';
import { Policy, RuleFieldError, type PolicySpec } from './policy.js';
import { policySchema } from './schema.js';

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(policySchema);

function fieldName(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || '(top level)';
}

function locate(doc: Document, lc: LineCounter, path: (string | number)[]): string {
  // Walk up until a node with a position exists (a missing field points at its parent object).
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    if (isNode(node) && node.range) {
      const { line, col } = lc.linePos(node.range[0]);
      return `${line}:${col}`;
    }
  }
  return '1:1';
}

function ajvPath(e: ErrorObject): (string | number)[] {
  const parts = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  const path: (string | number)[] = parts.map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  if (e.keyword === 'additionalProperties') path.push((e.params as { additionalProperty: string }).additionalProperty);
  if (e.keyword === 'required') path.push((e.params as { missingProperty: string }).missingProperty);
  return path;
}

function ajvMessage(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties') return 'unknown field';
  if (e.keyword === 'required') return 'is required';
  if (e.keyword === 'enum') return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  if (e.keyword === 'const') return `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`;
  return e.message ?? e.keyword;
}

/** Parses and validates policy text; `file` is only used in messages. */
export function parsePolicy(text: string, file: string): Policy {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const msgs = doc.errors.map((e) => {
      const { line, col } = lc.linePos(e.pos[0]);
      return `${file}:${line}:${col}: ${e.message.split('\n')[0]}`;
    });
    throw new ParasightError(`invalid policy file:\n${msgs.join('\n')}`, { code: 'FORMAT', source: file });
  }
  const data: unknown = doc.toJS();
  if (!validate(data)) {
    // oneOf/anyOf produce one error per branch: keep the most specific (deepest) per field.
    const seen = new Set<string>();
    const msgs: string[] = [];
    for (const e of validate.errors ?? []) {
      if (e.keyword === 'oneOf' || e.keyword === 'anyOf') {
        if ((validate.errors ?? []).some((o) => o !== e && o.instancePath.startsWith(e.instancePath) && o.keyword !== e.keyword && o.keyword !== 'type' && o.keyword !== 'pattern')) continue;
      }
      const path = ajvPath(e);
      const key = fieldName(path);
      if (seen.has(key)) continue;
      seen.add(key);
      const msg = e.keyword === 'oneOf' || e.keyword === 'type' || e.keyword === 'pattern' ? describeExpected(path) : ajvMessage(e);
      msgs.push(`${file}:${locate(doc, lc, path)}: ${key}: ${msg}`);
    }
    throw new ParasightError(`invalid policy file:\n${msgs.join('\n')}`, { code: 'FORMAT', source: file });
  }
  try {
    return new Policy(data as PolicySpec);
  } catch (e) {
    if (e instanceof RuleFieldError) {
      throw new ParasightError(`invalid policy file:\n${file}:${locate(doc, lc, e.path)}: ${fieldName(e.path)}: ${e.message}`, { code: 'FORMAT', source: file });
    }
    throw e;
  }
}

function describeExpected(path: (string | number)[]): string {
  const last = [...path].reverse().find((p) => typeof p === 'string');
  if (last === 'rport' || last === 'lport') return 'must be a port (0-65535), a range "low-high", or a list of them';
  if (last === 'remote') return 'must be an address/CIDR or a list of them';
  return 'has the wrong type';
}

export function loadPolicyFile(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ParasightError(`cannot read policy file ${path}: ${err.message}`, { code: err.code === 'ENOENT' ? 'NOT_FOUND' : 'IO', source: path, cause: e });
  }
  return parsePolicy(text, path);
}
