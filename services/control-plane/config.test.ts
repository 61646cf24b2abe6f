import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

function refusal(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('has defaults for one machine: embedded PostgreSQL, local Redis, loopback ports', () => {
    const c = loadConfig({});
    expect(c.databaseUrl).toBeUndefined();
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.http).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(c.grpc).toEqual({ host: '127.0.0.1', port: 7443 });
    expect(c.tls).toBeUndefined();
  });

  it('flags win over the environment', () => {
    const c = loadConfig(
      { OOMFLEET_HTTP_ADDR: '0.0.0.0:80', DATABASE_URL: 'postgresql://a@b/c' },
      { OOMFLEET_HTTP_ADDR: '[::1]:9000' },
    );
    expect(c.http).toEqual({ host: '::1', port: 9000 });
    expect(c.databaseUrl).toBe('postgresql://a@b/c');
  });

  it('names the setting and the fix for bad values', () => {
    expect(refusal(() => loadConfig({ OOMFLEET_GRPC_ADDR: '7443' }))).toMatchObject({
      setting: 'OOMFLEET_GRPC_ADDR',
      hint: expect.stringContaining('0.0.0.0:7443') as string,
    });
    expect(refusal(() => loadConfig({ DATABASE_URL: 'mysql://x/y' })).setting).toBe('DATABASE_URL');
    expect(refusal(() => loadConfig({ OOMFLEET_TLS_CERT: '/c.pem' })).setting).toBe(
      'OOMFLEET_TLS_KEY',
    );
    expect(
      refusal(() =>
        loadConfig({
          OOMFLEET_TLS_CERT: 'c',
          OOMFLEET_TLS_KEY: 'k',
          OOMFLEET_TLS_CLIENT_AUTH: 'require',
        }),
      ).setting,
    ).toBe('OOMFLEET_TLS_CA');
  });

  it('mutual TLS with a CA', () => {
    expect(
      loadConfig({
        OOMFLEET_TLS_CERT: 'c',
        OOMFLEET_TLS_KEY: 'k',
        OOMFLEET_TLS_CA: 'ca',
        OOMFLEET_TLS_CLIENT_AUTH: 'require',
      }).tls,
    ).toEqual({ certFile: 'c', keyFile: 'k', caFile: 'ca', requireClientCert: true });
  });
});
