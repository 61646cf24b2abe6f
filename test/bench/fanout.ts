// Fan-out benchmark: `npm run bench:fanout -- --agents N` (default 10000).
//
// Three processes: this driver; one control-plane gRPC server (this file with
// --role server, so its RSS is its own); N simulated agents with real gRPC
// streams (fanout-agents.ts). Hosts are enrolled straight into PostgreSQL.
//
// floorMs: a bare grpc-js server (same bidi service, in this process) writes
//   the same Assignment to N streams; time until it has N acks.
// convergeMs: every host is given a new version in PostgreSQL, the change is
//   published (['*']) through Redis; time until every ack is persisted.
// rssPerAgentKB: (server RSS with N agents − with 0) / N, after a GC.
// Progress on stderr; the last line on stdout is the JSON result.
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { hashToken, newToken } from '../../services/control-plane/auth/tokens.ts';
import { createFanout, type Fanout } from '../../services/control-plane/fanout/fanout.ts';
import { startGrpcServer } from '../../services/control-plane/grpc/server.ts';
import { createMetrics } from '../../services/control-plane/metrics.ts';
import { connectDatabase, type Database } from '../../services/control-plane/store/db.ts';
import {
  AgentServiceService,
  Assignment,
  type AgentMessage,
} from '../../services/proto/oomfleet/v1/agent.ts';

const DATABASE_URL =
  process.env.DATABASE_URL ??
  process.env.TEST_DATABASE_URL ??
  'postgresql://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const { values: flags } = parseArgs({
  options: {
    agents: { type: 'string', default: '10000' },
    role: { type: 'string', default: 'driver' },
    schema: { type: 'string' },
    channel: { type: 'string' },
    'per-connection': { type: 'string', default: '1' },
  },
  strict: false,
});

const log = (line: string): void => {
  process.stderr.write(`[fanout] ${line}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const posInt = (v: unknown, name: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
};

// ---------------------------------------------------------------- server role

async function serverRole(): Promise<void> {
  const schema = String(flags.schema);
  const channel = String(flags.channel);
  const db = await connectDatabase(DATABASE_URL, { schema, max: 8 });
  const fanout = await createFanout({ redisUrl: REDIS_URL, channel });
  const server = await startGrpcServer({
    db,
    metrics: createMetrics({ defaults: false }),
    reports: { enqueue: () => Promise.resolve() },
    fanout,
    replicaId: 'bench',
  });
  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (m: { type: string }) => {
    if (m.type === 'rss') {
      gc?.();
      gc?.();
      setTimeout(() => {
        process.send?.({
          type: 'rss',
          rss: process.memoryUsage().rss,
          connected: server.connectedHosts(),
        });
      }, 200);
    } else if (m.type === 'close') {
      void (async () => {
        await server.close({ graceMs: 0 });
        await fanout.close();
        await db.close();
        process.send?.({ type: 'closed' });
        process.disconnect();
      })();
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', port: server.port });
}

// ---------------------------------------------------------------- driver

interface Progress {
  type: 'progress';
  assignments: number;
  acks: number;
  firstAssigned: number;
  ended: number;
  streams: number;
}

function nextMessage<T extends { type: string }>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: T): void => {
      if (m.type !== type) return;
      child.off('message', onMsg);
      child.off('exit', onExit);
      resolve(m);
    };
    const onExit = (code: number | null): void => {
      child.off('message', onMsg);
      reject(new Error(`child exited (${code}) while waiting for ${type}`));
    };
    child.on('message', onMsg);
    child.once('exit', onExit);
  });
}

async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 20,
): Promise<void> {
  // performance.now(): monotonic (this machine's wall clock jumps)
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(everyMs);
  }
}

async function driver(): Promise<void> {
  const n = posInt(flags.agents, 'agents');
  const perConnection = posInt(flags['per-connection'], 'per-connection');
  const schema = `bench_fanout_${randomBytes(5).toString('hex')}`;
  const channel = `oomfleet-bench:${randomBytes(6).toString('hex')}`;
  const children: ChildProcess[] = [];
  let db: Database | undefined;
  let fanout: Fanout | undefined;
  let bare: grpc.Server | undefined;
  const cleanup = async (): Promise<void> => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    bare?.forceShutdown();
    await fanout?.close().catch(() => {});
    await db?.close().catch(() => {});
    const c = new pg.Client({ connectionString: DATABASE_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  };
  let cleaned = false;
  const onSignal = (sig: string): void => {
    log(`signal ${sig}`);
    if (cleaned) return;
    cleaned = true;
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    log(`agents=${n} schema=${schema}`);
    db = await connectDatabase(DATABASE_URL, { schema, migrate: true, max: 4 });
    const pool = db.pool;

    // a policy with two versions, N hosts wanting v1
    const document = (v: number) => ({
      apiVersion: 'oomfleet/v1',
      kind: 'OomPolicy',
      metadata: { name: 'bench', description: `version ${v}` },
      spec: {
        interval: 1000,
        dryRun: false,
        killBudget: { max: 3, per: 60000 },
        protect: [{ process: '^(sshd|systemd-journald)$' }],
        rules: [
          {
            name: 'batch-pressure',
            scope: '/batch/*',
            when: { any: [{ pressure: { kind: 'full', window: 'avg10', above: 30, for: 10000 } }] },
            action: { kill: { victim: 'fastest-growing', among: 'cgroup', grace: 5000 } },
            cooldown: 30000,
          },
        ],
      },
    });
    const policy = await db.prisma.policy.create({ data: { name: 'bench', createdBy: 'bench' } });
    const versions: string[] = [];
    for (const v of [1, 2]) {
      const d = document(v);
      const pv = await db.prisma.policyVersion.create({
        data: {
          policyId: policy.id,
          version: v,
          document: d,
          source: JSON.stringify(d),
          digest: `sha256:${hashToken(JSON.stringify(d))}`,
          author: 'bench',
        },
      });
      versions.push(pv.id);
    }
    const [v1, v2] = versions as [string, string];
    // every host (empty selector) runs v1: a Hello's resolveDesired agrees
    const group = await db.prisma.hostGroup.create({ data: { name: 'all', selector: {} } });
    const assignment = await db.prisma.assignment.create({
      data: { groupId: group.id, policyVersionId: v1, createdBy: 'bench' },
    });
    const hosts = Array.from({ length: n }, (_, i) => ({
      name: `bench-${i}`,
      secret: newToken('host'),
    }));
    const ids: string[] = [];
    for (let i = 0; i < n; i += 5000) {
      const chunk = hosts.slice(i, i + 5000);
      const { rows } = await pool.query<{ id: string }>(
        `INSERT INTO hosts (id, name, secret_hash, desired_version_id)
         SELECT gen_random_uuid(), name, hash, $3 FROM unnest($1::text[], $2::text[]) AS t(name, hash)
         RETURNING id`,
        [chunk.map((h) => h.name), chunk.map((h) => hashToken(h.secret)), v1],
      );
      ids.push(...rows.map((r) => r.id));
    }
    // RETURNING keeps input order for a plain INSERT … SELECT from unnest
    const byName = await pool.query<{ id: string; name: string }>('SELECT id, name FROM hosts');
    const idOf = new Map(byName.rows.map((r) => [r.name, r.id]));
    const creds = hosts.map((h) => ({ id: idOf.get(h.name) as string, secret: h.secret }));
    log(`enrolled ${n} hosts`);

    // the agents process
    const agents = fork(join(import.meta.dirname, 'fanout-agents.ts'), [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    children.push(agents);
    await nextMessage(agents, 'ready');
    let progress: Progress = {
      type: 'progress',
      assignments: 0,
      acks: 0,
      firstAssigned: 0,
      ended: 0,
      streams: 0,
    };
    agents.on('message', (m: Progress) => {
      if (m.type === 'progress') progress = m;
    });

    // ---- floor: a bare grpc-js server, same service, same Assignment bytes
    const assignmentBytes = Buffer.concat([
      Buffer.from([0x0a]),
      (() => {
        const body = Buffer.from(
          Assignment.encode({
            versionId: v2,
            policyName: 'bench',
            version: 2,
            digest: `sha256:${'0'.repeat(64)}`,
            documentJson: JSON.stringify(document(2)),
            nonce: 'floor-nonce-1',
          }).finish(),
        );
        return Buffer.concat([Buffer.from(varint(body.length)), body]);
      })(),
    ]);
    const bareStreams: grpc.ServerDuplexStream<AgentMessage, Buffer>[] = [];
    let bareAcks = 0;
    let bareDone: (() => void) | undefined;
    bare = new grpc.Server();
    bare.addService(
      {
        enroll: AgentServiceService.enroll,
        connect: {
          ...AgentServiceService.connect,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      {
        enroll: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
          cb({ code: grpc.status.UNIMPLEMENTED });
        },
        connect: (call: grpc.ServerDuplexStream<AgentMessage, Buffer>) => {
          let hello = false;
          call.on('data', (m: AgentMessage) => {
            if (!hello && m.msg?.$case === 'hello') {
              hello = true;
              bareStreams.push(call);
            } else if (m.msg?.$case === 'ack') {
              if (++bareAcks === n) bareDone?.();
            }
          });
          call.on('error', () => {});
          call.on('end', () => call.end());
        },
      },
    );
    const barePort = await new Promise<number>((resolve, reject) => {
      bare?.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => {
        if (err) reject(err);
        else resolve(p);
      });
    });
    agents.send({ type: 'connect', address: `127.0.0.1:${barePort}`, hosts: creds, perConnection });
    await waitFor(`${n} streams on the bare server`, () => bareStreams.length === n, 3_600_000, 50);
    log(`floor: ${n} streams open`);
    await sleep(500);
    const floorDone = new Promise<void>((r) => (bareDone = r));
    const f0 = performance.now();
    for (const s of bareStreams) s.write(assignmentBytes);
    await floorDone;
    const floorMs = performance.now() - f0;
    log(`floor: ${n} acks in ${floorMs.toFixed(0)} ms`);
    agents.send({ type: 'close' });
    await nextMessage(agents, 'closed');
    for (const s of bareStreams) s.end();
    await new Promise<void>((r) =>
      bare?.tryShutdown(() => {
        r();
      }),
    );
    bare = undefined;

    // ---- the control plane, in a process of its own
    const server = fork(
      import.meta.filename,
      ['--role', 'server', '--schema', schema, '--channel', channel],
      {
        execArgv: ['--import', 'tsx', '--expose-gc'],
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      },
    );
    children.push(server);
    const { port } = await nextMessage<{ type: string; port: number }>(server, 'ready');
    const rss = async (): Promise<number> => {
      const p = nextMessage<{ type: string; rss: number }>(server, 'rss');
      server.send({ type: 'rss' });
      return (await p).rss;
    };
    const rss0 = await rss();
    log(`server up on ${port}, rss ${(rss0 / 2 ** 20).toFixed(1)} MB with 0 agents`);
    fanout = await createFanout({ redisUrl: REDIS_URL, channel });

    const c0 = performance.now();
    agents.send({ type: 'connect', address: `127.0.0.1:${port}`, hosts: creds, perConnection });
    const appliedCount = async (v: string): Promise<number> =>
      Number(
        (
          await pool.query<{ n: string }>(
            'SELECT count(*) AS n FROM hosts WHERE applied_version_id = $1',
            [v],
          )
        ).rows[0]?.n ?? 0,
      );
    let lastLog = performance.now();
    await waitFor(
      `${n} agents connected and synced`,
      async () => {
        const k = await appliedCount(v1);
        if (performance.now() - lastLog > 2000) {
          lastLog = performance.now();
          log(`  ${k}/${n} synced; agents: ${JSON.stringify(progress)}`);
        }
        return k === n;
      },
      3_600_000,
      200,
    );
    log(
      `control plane: ${n} agents connected and acked v1 in ${(performance.now() - c0).toFixed(0)} ms`,
    );
    await sleep(1000);
    const rssN = await rss();
    log(`server rss ${(rssN / 2 ** 20).toFixed(1)} MB with ${n} agents`);

    // ---- the change: v2 for everyone, published to all replicas
    await db.prisma.assignment.update({
      where: { id: assignment.id },
      data: { policyVersionId: v2 },
    });
    await pool.query('UPDATE hosts SET desired_version_id = $1', [v2]);
    const t0 = performance.now();
    await fanout.publish(['*']);
    let last = 0;
    await waitFor(
      'every ack of v2 persisted',
      async () => {
        const k = await appliedCount(v2);
        if (k !== last && k < n)
          log(`  ${k}/${n} acks persisted at ${(performance.now() - t0).toFixed(0)} ms`);
        last = k;
        return k === n;
      },
      3_600_000,
      5,
    );
    const convergeMs = performance.now() - t0;
    log(
      `converged in ${convergeMs.toFixed(0)} ms (agents saw ${progress.assignments} assignments)`,
    );

    server.send({ type: 'close' });
    await Promise.race([nextMessage(server, 'closed'), sleep(10_000)]);
    agents.send({ type: 'exit' });

    const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;
    const result = {
      agents: n,
      floorMs: round(floorMs),
      convergeMs: round(convergeMs),
      ratio: round(convergeMs / floorMs, 2),
      serverRssMB: round(rssN / 2 ** 20),
      rssPerAgentKB: round((rssN - rss0) / 1024 / n, 2),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    if (!cleaned) {
      cleaned = true;
      await cleanup();
    }
  }
}

function varint(x: number): number[] {
  const out: number[] = [];
  while (x > 0x7f) {
    out.push((x & 0x7f) | 0x80);
    x >>>= 7;
  }
  out.push(x);
  return out;
}

if (flags.role === 'server') {
  await serverRole();
} else {
  await driver();
  process.exit(0);
}
