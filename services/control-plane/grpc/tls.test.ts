// The gRPC server over TLS and mutual TLS (grpc/tls.ts), with certificates
// made for the test (test/helpers/tls.ts): an agent trusting the CA is
// served; one trusting another CA, a plaintext one and, under mutual TLS, one
// without a certificate or with a certificate from another CA are refused.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/helpers/db.ts';
import { makeTestPki, type TestPki } from '../../../test/helpers/tls.ts';
import type { Fanout } from '../fanout/fanout.ts';
import { startGrpcServer } from './server.ts';
import {
  MemorySink,
  TestAgent,
  client,
  makeHosts,
  makePolicy,
  setDesired,
  testFanout,
  testMetrics,
} from './testing.ts';
import { serverCredentials } from './tls.ts';
import type { GrpcServer, TlsOptions } from './types.ts';

let pki: TestPki;
let db: TestDatabase;
let fanout: Fanout;
let versionId: string;

beforeAll(async () => {
  pki = makeTestPki();
  db = await freshDatabase('grpctls');
  fanout = await testFanout();
  versionId = (await makePolicy(db, 1)).ids[0] as string;
});

afterAll(async () => {
  await fanout.close();
  await db.drop();
  pki.remove();
});

function start(tls: TlsOptions): Promise<GrpcServer> {
  return startGrpcServer({
    db,
    metrics: testMetrics(),
    reports: new MemorySink(),
    fanout,
    replicaId: 'tls-a',
    tls,
  });
}

type Outcome = { served: true } | { served: false; code: number; details: string };

/** Connects a host over creds: served when its assignment arrives, else the stream's status. */
async function attempt(port: number, creds: grpc.ChannelCredentials): Promise<Outcome> {
  const [host] = await makeHosts(db, 1);
  if (!host) throw new Error('no host');
  await setDesired(db, [host.id], versionId);
  const c = client(port, creds);
  const a = new TestAgent(c, host.id, host.secret);
  try {
    a.hello();
    const r = await a.until(() => {
      if (a.received.some((m) => m.msg?.$case === 'assignment')) return 'served' as const;
      return a.status ?? a.error;
    }, 10_000);
    if (r === 'served') return { served: true };
    return { served: false, code: r.code, details: r.details };
  } finally {
    a.close();
    c.close();
  }
}

const tlsCreds = (ca: Buffer, pair?: { key: Buffer; cert: Buffer }): grpc.ChannelCredentials =>
  grpc.credentials.createSsl(ca, pair?.key ?? null, pair?.cert ?? null);

describe('serverCredentials', () => {
  it('is insecure without TLS, and refuses mutual TLS without a CA', () => {
    expect(serverCredentials(undefined)._isSecure()).toBe(false);
    expect(serverCredentials({ cert: pki.server.cert, key: pki.server.key })._isSecure()).toBe(
      true,
    );
    expect(() =>
      serverCredentials({ cert: pki.server.cert, key: pki.server.key, requireClientCert: true }),
    ).toThrow(/needs tls.ca/);
  });
});

describe('gRPC over TLS', () => {
  let server: GrpcServer;
  beforeAll(async () => {
    server = await start({ cert: pki.server.cert, key: pki.server.key });
  });
  afterAll(async () => {
    await server.close({ graceMs: 100 });
  });

  it('serves an agent that trusts the CA', async () => {
    expect(await attempt(server.port, tlsCreds(pki.ca.cert))).toEqual({ served: true });
  });

  it('serves an agent that presents a client certificate it does not ask for', async () => {
    expect(await attempt(server.port, tlsCreds(pki.ca.cert, pki.client))).toEqual({
      served: true,
    });
  });

  it('refuses an agent that trusts another CA', async () => {
    const r = await attempt(server.port, tlsCreds(pki.otherCa.cert));
    expect(r).toMatchObject({ served: false, code: grpc.status.UNAVAILABLE });
  });

  it('refuses a plaintext agent', async () => {
    const r = await attempt(server.port, grpc.credentials.createInsecure());
    expect(r).toMatchObject({ served: false, code: grpc.status.UNAVAILABLE });
  });
});

describe('gRPC over mutual TLS', () => {
  let server: GrpcServer;
  beforeAll(async () => {
    server = await start({
      cert: pki.server.cert,
      key: pki.server.key,
      ca: pki.ca.cert,
      requireClientCert: true,
    });
  });
  afterAll(async () => {
    await server.close({ graceMs: 100 });
  });

  it('serves an agent with a client certificate from the CA', async () => {
    expect(await attempt(server.port, tlsCreds(pki.ca.cert, pki.client))).toEqual({
      served: true,
    });
  });

  it('refuses an agent without a client certificate', async () => {
    const r = await attempt(server.port, tlsCreds(pki.ca.cert));
    expect(r).toMatchObject({ served: false, code: grpc.status.UNAVAILABLE });
  });

  it('refuses an agent with a client certificate from another CA', async () => {
    const r = await attempt(server.port, tlsCreds(pki.ca.cert, pki.otherClient));
    expect(r).toMatchObject({ served: false, code: grpc.status.UNAVAILABLE });
  });

  it('refuses a plaintext agent', async () => {
    const r = await attempt(server.port, grpc.credentials.createInsecure());
    expect(r).toMatchObject({ served: false, code: grpc.status.UNAVAILABLE });
  });
});
