// `oomfleet server` as an operator starts it: settings refused with the name
// of the setting and the fix; a first start prints the one-time admin token,
// serves, and SIGTERM stops it cleanly.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dropShared } from './helpers/control-plane.ts';

const bin = join(import.meta.dirname, '..', 'bin', 'oomfleet.js');
const dataDir = mkdtempSync(join(tmpdir(), 'oomfleet-cli-server-'));
const redisPrefix = `oomfleet-test-cli-${randomBytes(4).toString('hex')}`;

afterAll(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  await dropShared({ schema: 'unused_cli', redisPrefix });
});

describe('oomfleet server', () => {
  it('refuses a bad setting before anything listens, naming it and the fix', () => {
    const r = spawnSync(process.execPath, [bin, 'server', '--grpc', '7443'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('OOMFLEET_GRPC_ADDR');
    expect(r.stderr).toContain('hint:');
  });

  it('says which dependency is unreachable at start, and how to fix it', () => {
    const noPg = spawnSync(
      process.execPath,
      [bin, 'server', '--database', 'postgresql://postgres@127.0.0.1:1/x', '--http', '127.0.0.1:0'],
      { encoding: 'utf8' },
    );
    expect(noPg.status).toBe(1);
    expect(noPg.stderr).toContain('cannot use PostgreSQL at postgresql://postgres@127.0.0.1:1/x');
    expect(noPg.stderr).toContain('hint: check DATABASE_URL');
    const dir = mkdtempSync(join(tmpdir(), 'oomfleet-cli-noredis-'));
    try {
      const noRedis = spawnSync(
        process.execPath,
        [
          bin,
          'server',
          '--data-dir',
          dir,
          '--redis',
          'redis://127.0.0.1:1',
          '--http',
          '127.0.0.1:0',
          '--grpc',
          '127.0.0.1:0',
        ],
        { encoding: 'utf8', env: { ...process.env, DATABASE_URL: '' } },
      );
      expect(noRedis.status).toBe(1);
      expect(noRedis.stderr).toContain('cannot reach Redis at redis://127.0.0.1:1');
      expect(noRedis.stderr).toContain('hint: start Redis');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('prints the admin token once, serves /readyz, and exits 0 on SIGTERM', async () => {
    // No DATABASE_URL: the embedded PostgreSQL, in a data directory of its own.
    const env: NodeJS.ProcessEnv = { ...process.env, OOMFLEET_REDIS_PREFIX: redisPrefix };
    delete env.DATABASE_URL;
    const proc = spawn(
      process.execPath,
      [bin, 'server', '--data-dir', dataDir, '--http', '127.0.0.1:0', '--grpc', '127.0.0.1:0'],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    proc.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    proc.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    const deadline = Date.now() + 60_000;
    while (!/HTTP (http\S+)/.test(err) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const url = /HTTP (http\S+?),/.exec(err)?.[1];
    expect(url, err).toBeDefined();
    expect(out).toMatch(/admin API token[\s\S]*oft_/);
    expect((await fetch(`${url ?? ''}/readyz`)).status).toBe(200);
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 90_000);
});
