// Two control-plane replicas (the whole process: API, gRPC, fan-out,
// ingestion) sharing one PostgreSQL schema and one Redis prefix: a change of
// desired state made through replica A's API reaches an agent connected to
// replica B, and A's API sees B's agent acknowledge it.
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, eventually, TestAgent } from '../services/control-plane/grpc/testing.ts';
import type { EnrollResponse } from '../services/proto/oomfleet/v1/agent.ts';
import {
  dropShared,
  newShared,
  startTestControlPlane,
  type Shared,
  type TestControlPlane,
} from './helpers/control-plane.ts';

const POLICY = `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: web-tier }
spec:
  rules:
    - name: low-memory
      scope: global
      when: { available: { below: 5% } }
      action: { kill: { victim: largest } }
`;

let shared: Shared;
let a: TestControlPlane;
let b: TestControlPlane;
const agents: TestAgent[] = [];

beforeAll(async () => {
  shared = newShared();
  a = await startTestControlPlane(shared, { replicaId: 'replica-a' });
  b = await startTestControlPlane(shared, { replicaId: 'replica-b' });
}, 60_000);

afterAll(async () => {
  for (const t of agents) t.close();
  await b.stop();
  await a.stop();
  await dropShared(shared);
}, 60_000);

describe('two replicas', () => {
  it('an assignment made through replica A reaches an agent on replica B, and A sees it SYNCED', async () => {
    const token = await a.api<{ token: string }>('POST', '/api/v1/enrollment-tokens', {
      name: 'replicas',
    });
    expect(token.status).toBe(201);
    const cb = client(b.grpcPort);
    const enrolled = await promisify<
      { enrollmentToken: string; hostname: string; labels: Record<string, string> },
      EnrollResponse
    >(cb.enroll.bind(cb))({
      enrollmentToken: token.body.token,
      hostname: 'web-1',
      labels: { role: 'web' },
    });
    const agent = new TestAgent(cb, enrolled.hostId, enrolled.hostSecret);
    agents.push(agent);
    agent.hello({ hostname: 'web-1', labels: { role: 'web' } });
    // Nothing assigned yet: "run no policy".
    expect((await agent.nth('assignment', 0)).versionId).toBe('');

    expect((await a.api('POST', '/api/v1/policies', { source: POLICY })).status).toBe(201);
    const group = await a.api<{ id: string }>('POST', '/api/v1/groups', {
      name: 'web',
      selector: { matchLabels: { role: 'web' } },
    });
    const put = await a.api('PUT', `/api/v1/groups/${group.body.id}/assignment`, {
      policy: 'web-tier',
      version: 1,
    });
    expect(put.status).toBe(200);

    const assignment = await agent.nth('assignment', 1);
    expect(assignment).toMatchObject({ policyName: 'web-tier', version: 1 });
    expect(JSON.parse(assignment.documentJson)).toMatchObject({ metadata: { name: 'web-tier' } });
    agent.send({
      $case: 'ack',
      value: {
        versionId: assignment.versionId,
        nonce: assignment.nonce,
        digest: assignment.digest,
      },
    });
    const host = await eventually(async () => {
      const r = await a.api<{ syncState: string; connectedTo?: string }>(
        'GET',
        `/api/v1/hosts/${enrolled.hostId}`,
      );
      return r.body.syncState === 'SYNCED' ? r.body : undefined;
    }, 10_000);
    expect(host.syncState).toBe('SYNCED');
  }, 60_000);
});
