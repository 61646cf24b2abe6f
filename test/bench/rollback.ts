// bench:rollback — from a failed gate to every host of a 1,000-host wave
// acking the version it had before: a real control plane (PostgreSQL, Redis,
// gRPC) in this process, 1,000 simulated hosts (services/simulator) speaking
// the real protocol in a child process.
//
// The rollout takes a bad policy (memoryMax far below the jobs' need) to all
// 1,000 hosts in one step; its OOM-rate gate fails after a 1 s bake, and the
// control plane rolls every host back. rollbackMs: the Failed verdict's time
// → the last host's ack of its previous version (hosts.acked_at).
// rolledBackMs: → the rollout recorded rolled-back (it polls acks every
// 100 ms). The baseline, measured first in the same run: an ordinary change
// of the group's assignment → the last ack (the fan-out floor any rollback
// pays), and the ratio of the two.
//
// Usage: npm run bench:rollback [-- --hosts N]
// Progress on stderr; the JSON as the last line on stdout.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { TEST_DATABASE_URL } from '../helpers/db.ts';
import {
  dropShared,
  newShared,
  startTestControlPlane,
  type TestControlPlane,
} from '../helpers/control-plane.ts';
import { intFlag, log, round } from './lib.ts';

// One real second is a simulated minute: 1,000 hosts then report ~1,000
// events a second, which the ingester keeps up with.
const SCALE = 60;
const GOAL_MS = 2000;

const policy = (memoryMax: string): string => `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: bench-rollback }
spec:
  cgroups:
    - match: /jobs/*
      memoryMax: ${memoryMax}
`;

async function main(): Promise<void> {
  const hosts = intFlag('hosts', 1000);
  const shared = newShared();
  const cp: TestControlPlane = await startTestControlPlane(shared);
  const child = fork(join(import.meta.dirname, 'rollback-fleet.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const db = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await db.connect();
  await db.query(`SET search_path = "${shared.schema}"`);
  const message = (type: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const on = (m: { type: string; message?: string }): void => {
        if (m.type === type) {
          child.off('message', on);
          resolve();
        } else if (m.type === 'error') reject(new Error(m.message));
      };
      child.on('message', on);
    });
  try {
    const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const r = await cp.api<T>(method, path, body);
      if (r.status >= 300)
        throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    };
    const enrol = await api<{ token: string }>('POST', '/api/v1/enrollment-tokens', {
      name: 'bench',
      labels: { fleet: 'bench' },
    });
    const base = await api<{ id: string }>('POST', '/api/v1/policies', { source: policy('6Gi') });
    const next = await api<{ id: string }>('POST', '/api/v1/policies', { source: policy('8Gi') });
    const bad = await api<{ id: string }>('POST', '/api/v1/policies', { source: policy('1Gi') });
    const group = await api<{ id: string }>('POST', '/api/v1/groups', {
      name: 'bench',
      selector: { matchLabels: { fleet: 'bench' } },
    });
    await api('PUT', `/api/v1/groups/${group.id}/assignment`, {
      policy: 'bench-rollback',
      version: 1,
    });
    log(`bench: enrolling ${hosts} simulated hosts`);
    const ready = message('ready');
    child.send({
      type: 'start',
      address: cp.grpcAddress,
      enrollmentToken: enrol.token,
      count: hosts,
      timeScale: SCALE,
      versionId: base.id,
    });
    await ready;
    log(`bench: ${hosts} hosts run version 1`);

    const lastAck = async (versionId: string | null): Promise<{ n: number; last: number }> => {
      const r = await db.query<{ n: string; last: Date | null }>(
        `SELECT count(*) AS n, max(acked_at) AS last FROM hosts
          WHERE applied_version_id IS NOT DISTINCT FROM $1`,
        [versionId],
      );
      return { n: Number(r.rows[0]?.n ?? 0), last: r.rows[0]?.last?.getTime() ?? 0 };
    };
    const waitAll = async (versionId: string, timeoutMs = 60_000): Promise<number> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const a = await lastAck(versionId);
        if (a.n >= hosts) return a.last;
        if (Date.now() > deadline)
          throw new Error(`only ${a.n} of ${hosts} hosts acked ${versionId}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };

    // The baseline: an ordinary assignment change to every host.
    const t0 = Date.now();
    await api('PUT', `/api/v1/groups/${group.id}/assignment`, {
      policy: 'bench-rollback',
      version: 2,
    });
    const assignMs = (await waitAll(next.id)) - t0;
    log(`bench: baseline: an assignment change reached every ack in ${assignMs} ms`);

    const rollout = await api<{ id: string }>('POST', '/api/v1/rollouts', {
      groupId: group.id,
      versionId: bad.id,
      steps: [{ percent: 100 }],
      bakeSeconds: 1,
      ackTimeoutSeconds: 30,
      thresholds: { minHostHours: 0.7 / SCALE, minRateExcess: 10 * SCALE, maxRateRatio: 2 },
    });
    type R = {
      state: string;
      verdicts: { verdict: string; at: string }[];
      finishedAt: string | null;
    };
    let r: R;
    for (const deadline = Date.now() + 120_000; ;) {
      r = await api<R>('GET', `/api/v1/rollouts/${rollout.id}`);
      if (r.state === 'rolled-back' || r.state === 'succeeded' || r.state === 'paused') break;
      if (Date.now() > deadline) throw new Error(`rollout still ${r.state}`);
      await new Promise((res) => setTimeout(res, 50));
    }
    const failed = r.verdicts.find((v) => v.verdict === 'Failed');
    if (r.state !== 'rolled-back' || !failed)
      throw new Error(`expected a failed gate and a rollback, got ${JSON.stringify(r)}`);
    const failedAt = Date.parse(failed.at);
    const back = await lastAck(next.id);
    if (back.n < hosts) throw new Error(`${hosts - back.n} hosts did not return to version 2`);
    const counted = new Promise<number>((resolve) => {
      const on = (m: {
        type: string;
        reconnects?: number;
        lastErrors?: Record<string, number>;
      }): void => {
        if (m.type !== 'counted') return;
        child.off('message', on);
        if (m.reconnects) log(`bench: hosts' last errors: ${JSON.stringify(m.lastErrors)}`);
        resolve(m.reconnects ?? -1);
      };
      child.on('message', on);
    });
    child.send({ type: 'count' });
    const reconnects = await counted;
    const rollbackMs = back.last - failedAt;
    const rolledBackMs = Date.parse(r.finishedAt ?? '') - failedAt;
    const summary = {
      hosts,
      rollbackMs,
      rolledBackMs,
      baselineAssignMs: assignMs,
      ratio: round(rollbackMs / Math.max(1, assignMs), 2),
      // Streams the hosts had to open again during the run (0 when all is well).
      reconnects,
      goal: { rollbackMsAtMost: GOAL_MS, met: rollbackMs <= GOAL_MS },
    };
    console.log(JSON.stringify(summary));
  } finally {
    // Each step on its own: a failed one must not leave the schema and keys behind.
    const step = async (what: string, f: () => unknown): Promise<void> => {
      try {
        await f();
      } catch (err) {
        log(`bench: cleanup: ${what}: ${(err as Error).message}`);
      }
    };
    await step('the fleet', async () => {
      const stopped = message('stopped').catch(() => undefined);
      child.send({ type: 'stop' });
      await Promise.race([stopped, new Promise((r) => setTimeout(r, 10_000))]);
      child.kill('SIGKILL');
    });
    await step('the database client', () => db.end());
    await step('the control plane', () => cp.stop());
    await step('the schema and Redis keys', () => dropShared(shared));
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
