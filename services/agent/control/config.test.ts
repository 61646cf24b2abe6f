import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRunFlags } from '../supervisor/main.ts';
import { controlPlaneOptions } from '../supervisor/run.ts';
import { checkAddress, ControlConfigError, parseLabels, resolveControlPlane } from './config.ts';

describe('control-plane flags', () => {
  it('parses labels', () => {
    expect(parseLabels('zone=a,tier=batch')).toEqual({ zone: 'a', tier: 'batch' });
    expect(parseLabels(' zone=a , team/x=y.z ,')).toEqual({ zone: 'a', 'team/x': 'y.z' });
    expect(parseLabels('empty=')).toEqual({ empty: '' });
    expect(() => parseLabels('zone')).toThrow(ControlConfigError);
    expect(() => parseLabels('=a')).toThrow(/not key=value/);
    expect(() => parseLabels('a b=c')).toThrow(ControlConfigError);
  });

  it('checks host:port', () => {
    expect(checkAddress('cp.example.com:7443')).toBe('cp.example.com:7443');
    expect(checkAddress('127.0.0.1:1')).toBe('127.0.0.1:1');
    expect(checkAddress('[::1]:7443')).toBe('[::1]:7443');
    for (const bad of ['cp.example.com', ':7443', 'cp:0', 'cp:70000', 'http://cp:80'])
      expect(() => checkAddress(bad)).toThrow(ControlConfigError);
  });

  it('the supervisor takes the control-plane flags, and leaves wrong ones to the CLI', () => {
    const f = parseRunFlags([
      '--control-plane',
      'cp:7443',
      '--enrollment-token-file',
      '/etc/oomfleet/token',
      '--labels',
      'zone=a',
      '--tls-ca',
      'ca.pem',
      '--tls-cert',
      'c.pem',
      '--tls-key',
      'k.pem',
    ]);
    expect(f).toMatchObject({
      controlPlane: 'cp:7443',
      enrollmentTokenFile: '/etc/oomfleet/token',
      labels: 'zone=a',
      tlsCa: 'ca.pem',
      tlsCert: 'c.pem',
      tlsKey: 'k.pem',
    });
    expect(f && controlPlaneOptions(f)).toEqual({
      address: 'cp:7443',
      enrollmentTokenFile: '/etc/oomfleet/token',
      labels: { zone: 'a' },
      tlsCa: 'ca.pem',
      tlsCert: 'c.pem',
      tlsKey: 'k.pem',
    });
    expect(parseRunFlags(['--policy', 'p.yaml'])).toBeDefined();
    expect(parseRunFlags(['--control-plane', 'no-port'])).toBeUndefined();
    expect(parseRunFlags(['--control-plane', 'cp:1', '--labels', 'oops'])).toBeUndefined();
    expect(parseRunFlags(['--control-plane', 'cp:1', '--tls-cert', 'c.pem'])).toBeUndefined();
    expect(parseRunFlags(['--enrollment-token', 't'])).toBeUndefined();
    expect(
      parseRunFlags([
        '--control-plane',
        'cp:1',
        '--enrollment-token',
        't',
        '--enrollment-token-file',
        'f',
      ]),
    ).toBeUndefined();
  });

  it('reads the token and TLS files in the worker', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oomfleet-cpcfg-'));
    try {
      writeFileSync(join(dir, 'token'), 'secret-token\n');
      writeFileSync(join(dir, 'ca.pem'), 'CA');
      const r = resolveControlPlane({
        address: 'cp:1',
        enrollmentTokenFile: join(dir, 'token'),
        tlsCa: join(dir, 'ca.pem'),
      });
      expect(r.enrollmentToken).toBe('secret-token');
      expect(r.tls?.ca?.toString()).toBe('CA');
      expect(resolveControlPlane({ address: 'cp:1' }).tls).toBeUndefined();
      expect(() =>
        resolveControlPlane({ address: 'cp:1', tlsCa: join(dir, 'missing.pem') }),
      ).toThrow(/--tls-ca/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
