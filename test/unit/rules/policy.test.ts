import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicyFile, parsePolicy } from '../../../src/rules/load.js';
import { factsFor } from '../../../src/rules/policy.js';
import { PolicyStore } from '../../../src/rules/store.js';
import { policySchema } from '../../../src/rules/schema.js';

const fx = (n: string): string => fileURLToPath(new URL(`../../fixtures/policy/${n}`, import.meta.url));

describe('policy matching', () => {
  const policy = loadPolicyFile(fx('good.yaml'));

  it('default-deny process: allow rules by direction, proto, CIDR, port list and range; first match wins', () => {
    const d = (dir: 'outbound' | 'inbound', proto: number, remote: string, rport: number, lport = 40000) =>
      policy.decide('curl', '/usr/bin/curl', factsFor(dir, proto, remote, rport, lport));
    expect(d('outbound', 6, '10.1.2.3', 443)).toMatchObject({ action: 'allow', rule: 'curl#0', scope: 'process' });
    expect(d('outbound', 6, '10.1.2.3', 8050)).toMatchObject({ action: 'allow', rule: 'curl#0' });
    expect(d('outbound', 6, '10.1.2.3', 8101)).toMatchObject({ action: 'deny', rule: 'curl#mode' });
    expect(d('outbound', 6, '11.0.0.1', 443)).toMatchObject({ action: 'deny', rule: 'curl#mode' });
    expect(d('inbound', 6, '10.1.2.3', 443)).toMatchObject({ action: 'deny' });
    expect(d('outbound', 17, '8.8.8.8', 53)).toMatchObject({ action: 'allow', rule: 'curl#1' });
    expect(d('outbound', 6, '8.8.8.8', 53)).toMatchObject({ action: 'deny' });
  });

  it('matches by path, by local port, and by name case-insensitively and through comm truncation', () => {
    expect(policy.decide('sshd', '/usr/sbin/sshd', factsFor('inbound', 6, '203.0.113.5', 50000, 22)).action).toBe('allow');
    expect(policy.decide('sshd', '/usr/sbin/sshd', factsFor('outbound', 6, '203.0.113.5', 22, 50000)).action).toBe('deny');
    expect(policy.decide('sshd', '/opt/sshd', factsFor('outbound', 6, '203.0.113.5', 22, 50000)).scope).toBe('default');
    expect(policy.policyFor('CURL', undefined).label).toBe('curl');
    const long = parsePolicy('version: 1\nprocesses:\n  - name: systemd-resolved-helper\n    mode: default-deny\n', 't');
    expect(long.policyFor('systemd-resolve', undefined).label).toBe('systemd-resolved-helper');
    expect(long.policyFor('systemd', undefined).scope).toBe('default');
  });

  it('default-allow process with an explicit allow before a broader deny', () => {
    const d = (r: string) => policy.decide('backupd', undefined, factsFor('outbound', 6, r, 873, 1));
    expect(d('192.0.2.7')).toMatchObject({ action: 'allow', rule: 'backupd#0' });
    expect(d('192.0.2.8')).toMatchObject({ action: 'deny', rule: 'backupd#1' });
    expect(d('203.0.113.1')).toMatchObject({ action: 'allow', rule: 'backupd#mode' });
  });

  it('global fallback with v4 and v6 CIDRs', () => {
    const d = (r: string) => policy.decide('unknown', undefined, factsFor('outbound', 6, r, 80, 1));
    expect(d('198.51.100.77')).toMatchObject({ action: 'deny', scope: 'default', rule: 'default#0' });
    expect(d('2001:db8:bad:1::5')).toMatchObject({ action: 'deny', rule: 'default#0' });
    expect(d('2001:db8:bae::5')).toMatchObject({ action: 'allow', rule: 'default#mode' });
    expect(d('198.51.101.1').action).toBe('allow');
    expect(policy.decideUnattributed(factsFor('outbound', 6, '198.51.100.1', 1, 1)).action).toBe('deny');
  });

  it('JSON and YAML are the same format', () => {
    const json = JSON.stringify(loadPolicyFile(fx('good.yaml')).spec);
    expect(parsePolicy(json, 'x.json').spec).toEqual(policy.spec);
  });
});

describe('policy validation names file, line and field', () => {
  it('port range low > high', () => {
    expect(() => loadPolicyFile(fx('bad-port.yaml'))).toThrow(/bad-port\.yaml:7:\d+: processes\[0\]\.rules\[0\]\.rport: port range "9000-80"/);
  });
  it('unknown field, bad enum, missing required field — all reported', () => {
    let msg = '';
    try {
      loadPolicyFile(fx('bad-fields.yaml'));
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toMatch(/bad-fields\.yaml:6:\d+: processes\[0\]\.rules\[0\]\.direction: must be one of "outbound", "inbound", "any"/);
    expect(msg).toMatch(/bad-fields\.yaml:7:\d+: processes\[0\]\.rules\[0\]\.porto: unknown field/);
    expect(msg).toMatch(/bad-fields\.yaml:8:\d+: processes\[1\]\.mode: is required/);
  });
  it('bad CIDR in JSON', () => {
    expect(() => loadPolicyFile(fx('bad-cidr.json'))).toThrow(/bad-cidr\.json:8:\d+: processes\[0\]\.rules\[0\]\.remote: "10\.0\.0\.0\/33" is not/);
  });
  it('YAML syntax error', () => {
    expect(() => loadPolicyFile(fx('bad-syntax.yaml'))).toThrow(/bad-syntax\.yaml:3:11: Nested mappings/);
  });
  it('the shipped schema file equals the one the loader uses', () => {
    const shipped = JSON.parse(readFileSync(fileURLToPath(new URL('../../../schema/policy.schema.json', import.meta.url)), 'utf8'));
    expect(shipped).toEqual(JSON.parse(JSON.stringify(policySchema)));
  });
});

describe('PolicyStore hot reload', () => {
  it('swaps on a good file, keeps the old policy on a bad one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parasight-policy-'));
    try {
      const path = join(dir, 'p.yaml');
      writeFileSync(path, 'version: 1\ndefault:\n  mode: default-allow\n');
      const store = new PolicyStore(path);
      const f = factsFor('outbound', 6, '10.0.0.1', 80, 1);
      expect(store.policy.decide('x', undefined, f).action).toBe('allow');
      const errors: Error[] = [];
      store.on('error', (e) => errors.push(e));
      writeFileSync(path, 'version: 1\ndefault:\n  mode: default-maybe\n');
      expect(store.reload()).toBe(false);
      expect(errors[0]?.message).toMatch(/p\.yaml:3:\d+: default\.mode/);
      expect(store.policy.decide('x', undefined, f).action).toBe('allow');
      const reloaded = new Promise<number>((resolve) => store.once('reloaded', (_p, g) => resolve(g)));
      store.watchFile(20);
      writeFileSync(path, 'version: 1\ndefault:\n  mode: default-deny\n');
      expect(await reloaded).toBe(2);
      expect(store.policy.decide('x', undefined, f).action).toBe('deny');
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
