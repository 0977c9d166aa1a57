import { describe, expect, it } from 'vitest';
import { LiveCapture, loadPcap } from '../../../src/capture/live.js';
import { ParasightError } from '../../../src/errors.js';

describe('LiveCapture', () => {
  it('loads the optional pcap package (installed here)', () => {
    expect(typeof loadPcap().createSession).toBe('function');
  });

  it('a missing interface is a ParasightError naming it, not a crash', () => {
    let caught: unknown;
    try {
      new LiveCapture('ps-no-such-if0', () => {});
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ParasightError);
    expect((caught as ParasightError).code).toBe('IO');
    expect((caught as ParasightError).message).toMatch(/cannot capture on ps-no-such-if0/);
  });
});
