// TLS across the parts, with certificates made for the test
// (helpers/tls.ts): the real control plane (startControlPlane) with
// OOMFLEET_TLS_* set serves its HTTP API over HTTPS (and, with
// OOMFLEET_TLS_CLIENT_AUTH=require, only to clients with a certificate from
// the CA), and the real agent enrols and takes its assignment over mutual TLS
// from the real gRPC server.
import { request } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker, type Worker } from '../services/agent/worker.ts';
import { loadConfig } from '../services/control-plane/config.ts';
import { startControlPlane, type ControlPlane } from '../services/control-plane/server.ts';
import { TEST_DATABASE_URL } from './helpers/db.ts';
import { dropShared, newShared, type Shared } from './helpers/control-plane.ts';
import { makeTestPki, type TestPki } from './helpers/tls.ts';

let pki: TestPki;
let shared: Shared;
let token: string;
/** Mutual TLS (OOMFLEET_TLS_CLIENT_AUTH=require). */
let mtls: ControlPlane;
/** TLS only: a second replica on the same schema. */
let tls: ControlPlane;
let dir: string;

async function start(clientAuth: boolean, id: string): Promise<ControlPlane> {
  const config = {
    ...loadConfig({
      DATABASE_URL: TEST_DATABASE_URL,
      OOMFLEET_HTTP_ADDR: '127.0.0.1:0',
      OOMFLEET_GRPC_ADDR: '127.0.0.1:0',
      OOMFLEET_REPLICA_ID: id,
      OOMFLEET_TLS_CERT: pki.server.certFile,
      OOMFLEET_TLS_KEY: pki.server.keyFile,
      ...(clientAuth
        ? { OOMFLEET_TLS_CA: pki.ca.certFile, OOMFLEET_TLS_CLIENT_AUTH: 'require' }
        : {}),
    }),
    databaseSchema: shared.schema,
    redisPrefix: shared.redisPrefix,
  };
  return startControlPlane(config, () => {});
}

beforeAll(async () => {
  pki = makeTestPki();
  shared = newShared();
  dir = mkdtempSync(join(tmpdir(), 'oomfleet-tls-'));
  mtls = await start(true, 'tls-mutual');
  if (!mtls.adminToken) throw new Error('no admin token');
  token = mtls.adminToken;
  tls = await start(false, 'tls-only');
}, 60_000);

afterAll(async () => {
  await tls.stop();
  await mtls.stop();
  await dropShared(shared);
  rmSync(dir, { recursive: true, force: true });
  pki.remove();
});

interface Creds {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** An HTTPS request; rejects when the connection is refused. */
function call(
  url: string,
  creds: Creds,
  method = 'GET',
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        ca: creds.ca,
        ...(creds.cert && creds.key ? { cert: creds.cert, key: creds.key } : {}),
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (s: string) => (text += s));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const withClientCert: () => Creds = () => ({
  ca: pki.ca.cert,
  cert: pki.client.cert,
  key: pki.client.key,
});

describe('HTTP API over TLS', () => {
  it('serves /healthz over HTTPS to a client that trusts the CA', async () => {
    expect(tls.httpUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await call(`${tls.httpUrl}/healthz`, { ca: pki.ca.cert });
    expect(r.status).toBe(200);
  });

  it('is refused by a client that trusts another CA, and refuses plain HTTP', async () => {
    await expect(call(`${tls.httpUrl}/healthz`, { ca: pki.otherCa.cert })).rejects.toThrow(
      /self-signed|unable to verify|certificate/i,
    );
    const plain = tls.httpUrl.replace(/^https:/, 'http:');
    const ok = await fetch(`${plain}/healthz`).then(
      (res) => res.ok,
      () => false,
    );
    expect(ok).toBe(false);
  });

  it('with client auth required, serves a client with a certificate from the CA', async () => {
    expect(mtls.httpUrl).toMatch(/^https:/);
    const r = await call(`${mtls.httpUrl}/healthz`, withClientCert());
    expect(r.status).toBe(200);
  });

  it('with client auth required, refuses a client without a certificate or with one from another CA', async () => {
    await expect(call(`${mtls.httpUrl}/healthz`, { ca: pki.ca.cert })).rejects.toThrow();
    await expect(
      call(`${mtls.httpUrl}/healthz`, {
        ca: pki.ca.cert,
        cert: pki.otherClient.cert,
        key: pki.otherClient.key,
      }),
    ).rejects.toThrow();
  });
});

const POLICY = `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: tls-policy }
spec:
  rules:
    - name: low-memory
      scope: global
      when: { any: [{ available: { below: 1% } }] }
      action: { notify: {} }
`;

async function waitFor<T>(what: () => T | undefined | false, label: string, ms = 20_000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = what();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${label}`);
    await sleep(50);
  }
}

describe('the agent over mutual TLS', { timeout: 60_000 }, () => {
  const workers: Worker[] = [];
  afterAll(async () => {
    for (const w of workers) await w.stop();
  });

  async function agent(name: string, enrollmentToken: string, files: object) {
    const lines: string[] = [];
    const w = await startWorker({
      stateDir: join(dir, name, 'state'),
      socketPath: join(dir, `${name}.sock`),
      cgroupMode: 'none',
      controlPlane: {
        address: `127.0.0.1:${mtls.grpcPort}`,
        enrollmentToken,
        labels: { tls: 'yes' },
        backoffBaseMs: 50,
        backoffCapMs: 400,
        heartbeatMs: 200,
        connectTimeoutMs: 3_000,
        ...files,
      },
      log: (l) => lines.push(l),
    });
    workers.push(w);
    return { w, lines };
  }

  it('enrols with the real control plane and applies its assignment', async () => {
    const enrol = await call(`${mtls.httpUrl}/api/v1/enrollment-tokens`, withClientCert(), 'POST', {
      name: 'tls',
      labels: {},
    });
    expect(enrol.status).toBe(201);
    const enrollmentToken = (enrol.body as { token: string }).token;
    const p = await call(`${mtls.httpUrl}/api/v1/policies`, withClientCert(), 'POST', {
      source: POLICY,
    });
    expect(p.status).toBe(201);
    const g = await call(`${mtls.httpUrl}/api/v1/groups`, withClientCert(), 'POST', {
      name: 'tls',
      selector: { matchLabels: { tls: 'yes' } },
    });
    expect(g.status).toBe(201);
    const groupId = (g.body as { id: string }).id;
    const a = await call(
      `${mtls.httpUrl}/api/v1/groups/${groupId}/assignment`,
      withClientCert(),
      'PUT',
      { policy: 'tls-policy', version: 1 },
    );
    expect(a.status).toBe(200);

    const { w, lines } = await agent('good', enrollmentToken, {
      tlsCa: pki.ca.certFile,
      tlsCert: pki.client.certFile,
      tlsKey: pki.client.keyFile,
    });
    await waitFor(
      () => w.engine.status().policy?.name === 'tls-policy',
      `the assigned policy; log:\n${lines.join('\n')}`,
    );
    const s = w.engine.status();
    expect(s.policy).toMatchObject({ source: 'control-plane', version: 1 });
    expect(s.controlPlane).toMatchObject({ state: 'connected' });
    expect(s.controlPlane.hostId).toBeTypeOf('string');

    // Without a client certificate the same agent setup is refused: it never enrols.
    const bare = await agent('bare', enrollmentToken, { tlsCa: pki.ca.certFile });
    await waitFor(
      () => bare.w.engine.status().controlPlane.lastError,
      'an error from the refused agent',
    );
    await sleep(500);
    const b = bare.w.engine.status();
    expect(b.controlPlane.state).not.toBe('connected');
    expect(b.controlPlane.hostId).toBeUndefined();
    expect(b.policy).toBeUndefined();
  });
});
