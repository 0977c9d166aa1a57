import { describe, expect, it } from 'vitest';
import { Learner } from '../../../src/rules/learn.js';
import { parsePolicy } from '../../../src/rules/load.js';
import { factsFor } from '../../../src/rules/policy.js';

describe('Learner', () => {
  it('writes default-deny + learned allow rules for narrow programs and skips broad ones', () => {
    const l = new Learner({ maxPeers: 2, maxPorts: 2 });
    for (let i = 0; i < 5; i++) l.observe({ name: 'updater', path: '/usr/bin/updater', direction: 'outbound', proto: 'tcp', remote: '10.0.0.5', rport: 443, lport: 40000 + i });
    l.observe({ name: 'updater', path: '/usr/bin/updater', direction: 'outbound', proto: 'udp', remote: '10.0.0.53', rport: 53, lport: 5000 });
    l.observe({ name: 'nginx', path: undefined, direction: 'inbound', proto: 'tcp', remote: '203.0.113.1', rport: 50000, lport: 80 });
    l.observe({ name: 'nginx', path: undefined, direction: 'inbound', proto: 'tcp', remote: '203.0.113.2', rport: 50001, lport: 80 });
    for (let i = 0; i < 4; i++) l.observe({ name: 'firefox', path: '/usr/bin/firefox', direction: 'outbound', proto: 'tcp', remote: `198.51.100.${i}`, rport: 443, lport: 1 });
    const r = l.result();
    expect(r.learned).toEqual(['nginx', '/usr/bin/updater']);
    expect(r.skipped).toEqual([{ process: '/usr/bin/firefox', reason: expect.stringMatching(/4 distinct peers/) }]);

    // The YAML output is a valid policy that allows exactly what was seen.
    const text = l.toYaml(new Date(0));
    expect(text).toMatch(/^# parasight policy learned 1970/);
    expect(text).toMatch(/# not learned: \/usr\/bin\/firefox/);
    const p = parsePolicy(text, 'learned.yaml');
    const up = (remote: string, rport: number, proto = 6) => p.decide('updater', '/usr/bin/updater', factsFor('outbound', proto, remote, rport, 41000));
    expect(up('10.0.0.5', 443)).toMatchObject({ action: 'allow', learned: true });
    expect(up('10.0.0.5', 80).action).toBe('deny');
    expect(up('10.0.0.6', 443).action).toBe('deny');
    expect(up('10.0.0.53', 53, 17).action).toBe('allow');
    expect(p.decide('nginx', undefined, factsFor('inbound', 6, '192.0.2.99', 1234, 80)).action).toBe('allow');
    expect(p.decide('nginx', undefined, factsFor('outbound', 6, '192.0.2.99', 80, 1234)).action).toBe('deny');
    expect(p.decide('firefox', '/usr/bin/firefox', factsFor('outbound', 6, '1.1.1.1', 443, 1)).scope).toBe('default');
  });
});
