// The agent's TLS setup (--tls-ca, --tls-cert, --tls-key) against the small
// AgentService (test-server.ts) behind a TLS terminator on loopback, with
// certificates made for the test (test/helpers/tls.ts): the agent that trusts
// the server's CA enrols and acks, also with its client certificate under
// mutual TLS; one trusting another CA, or without a client certificate where
// one is required, never reaches the server.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createServer, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson, loadPolicy } from '../../policy/index.ts';
import { makeTestPki, type Pem, type TestPki } from '../../../test/helpers/tls.ts';
import { startWorker, type Worker } from '../worker.ts';
import { resolveControlPlane, type ControlPlaneOptions } from './config.ts';
import { startFakeControlPlane, TEST_TOKEN, type FakeControlPlane } from './test-server.ts';

let pki: TestPki;
beforeAll(() => {
  pki = makeTestPki();
});
afterAll(() => {
  pki.remove();
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** TLS on a port of its own, passing the bytes on to the plaintext fake server. */
async function terminator(
  upstreamPort: number,
  server: Pem,
  clientCa?: Buffer,
): Promise<{ port: number; handshakes: () => number }> {
  const sockets = new Set<Socket>();
  let handshakes = 0;
  const srv = createServer(
    {
      cert: server.cert,
      key: server.key,
      ALPNProtocols: ['h2'],
      ...(clientCa ? { ca: clientCa, requestCert: true, rejectUnauthorized: true } : {}),
    },
    (s: TLSSocket) => {
      handshakes++;
      const up = connect(upstreamPort, '127.0.0.1');
      sockets.add(s).add(up);
      const drop = (): void => {
        s.destroy();
        up.destroy();
      };
      s.on('error', drop).on('close', drop);
      up.on('error', drop).on('close', drop);
      s.pipe(up).pipe(s);
    },
  );
  srv.on('tlsClientError', () => {
    // a refused handshake: what some tests expect
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => {
          resolve();
        });
      }),
  );
  return { port: (srv.address() as AddressInfo).port, handshakes: () => handshakes };
}

async function fake(): Promise<FakeControlPlane> {
  const cp = await startFakeControlPlane();
  cleanups.push(() => cp.kill());
  const r = loadPolicy(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: tls-a }
spec:
  rules:
    - name: low-memory
      scope: global
      when: { any: [{ available: { below: 1% } }] }
      action: { notify: {} }
`);
  if (!r.ok || !r.canonical || !r.digest || !r.policy) throw new Error('bad test policy');
  cp.setDesired({
    versionId: 'ver-1',
    policyName: r.policy.name,
    version: 1,
    digest: r.digest,
    documentJson: canonicalJson(r.canonical),
  });
  return cp;
}

async function agent(
  port: number,
  files: Pick<ControlPlaneOptions, 'tlsCa' | 'tlsCert' | 'tlsKey'>,
): Promise<Worker & { lines: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'oomfleet-agent-tls-'));
  const lines: string[] = [];
  const w = await startWorker({
    stateDir: join(dir, 'state'),
    socketPath: join(dir, 'agent.sock'),
    cgroupMode: 'none',
    controlPlane: {
      address: `127.0.0.1:${port}`,
      enrollmentToken: TEST_TOKEN,
      backoffBaseMs: 50,
      backoffCapMs: 400,
      heartbeatMs: 100,
      connectTimeoutMs: 3_000,
      ...files,
    },
    log: (l) => lines.push(l),
  });
  cleanups.push(async () => {
    await w.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { ...w, lines };
}

/** The agent keeps failing to connect and the server hears nothing. */
async function refused(w: Worker, cp: FakeControlPlane): Promise<void> {
  const until = Date.now() + 10_000;
  while (!w.engine.status().controlPlane.lastError) {
    if (Date.now() > until) throw new Error('the agent reported no error');
    await sleep(50);
  }
  await sleep(500);
  expect(cp.got.enrolments).toHaveLength(0);
  expect(cp.got.connections).toBe(0);
  expect(w.engine.status().controlPlane.state).not.toBe('connected');
}

describe('agent over TLS', { timeout: 60_000 }, () => {
  it('trusting the CA (--tls-ca): enrols, applies the assignment and acks', async () => {
    const cp = await fake();
    const t = await terminator(cp.port, pki.server);
    const w = await agent(t.port, { tlsCa: pki.ca.certFile });
    await cp.waitFor(() => cp.got.acks.length > 0);
    expect(cp.got.enrolments).toHaveLength(1);
    expect(w.engine.status().policy).toMatchObject({ name: 'tls-a', versionId: 'ver-1' });
    expect(w.engine.status().controlPlane).toMatchObject({ state: 'connected', hostId: 'host-1' });
    expect(t.handshakes()).toBeGreaterThan(0);
  });

  it('trusting another CA: refuses the server', async () => {
    const cp = await fake();
    const t = await terminator(cp.port, pki.server);
    const w = await agent(t.port, { tlsCa: pki.otherCa.certFile });
    await refused(w, cp);
  });

  it('with mutual TLS (--tls-cert, --tls-key): enrols, applies the assignment and acks', async () => {
    const cp = await fake();
    const t = await terminator(cp.port, pki.server, pki.ca.cert);
    const w = await agent(t.port, {
      tlsCa: pki.ca.certFile,
      tlsCert: pki.client.certFile,
      tlsKey: pki.client.keyFile,
    });
    await cp.waitFor(() => cp.got.acks.length > 0);
    expect(w.engine.status().policy).toMatchObject({ name: 'tls-a', versionId: 'ver-1' });
  });

  it('with mutual TLS: refused without a client certificate, or with one from another CA', async () => {
    const cp = await fake();
    const t = await terminator(cp.port, pki.server, pki.ca.cert);
    const bare = await agent(t.port, { tlsCa: pki.ca.certFile });
    const other = await agent(t.port, {
      tlsCa: pki.ca.certFile,
      tlsCert: pki.otherClient.certFile,
      tlsKey: pki.otherClient.keyFile,
    });
    await refused(bare, cp);
    await refused(other, cp);
  });
});

describe('resolveControlPlane', () => {
  it('turns TLS on for a client certificate even when --tls-ca is empty', () => {
    const r = resolveControlPlane({
      address: 'cp:1',
      tlsCa: '',
      tlsCert: pki.client.certFile,
      tlsKey: pki.client.keyFile,
    });
    expect(r.tls?.cert?.equals(pki.client.cert)).toBe(true);
    expect(r.tls?.key?.equals(pki.client.key)).toBe(true);
    expect(r.tls?.ca).toBeUndefined();
  });
});
