// Who owns a host's labels, against a real control plane and a simulated
// agent over real gRPC: labels an operator set stay as set when the agent
// reconnects and says Hello with its own, until the operator hands them back,
// and every change is audited.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SimulatedHost } from '../services/simulator/host.ts';
import {
  dropShared,
  newShared,
  startTestControlPlane,
  type Shared,
  type TestControlPlane,
} from './helpers/control-plane.ts';
import { eventually } from './helpers/wait.ts';

interface HostView {
  id: string;
  labels: Record<string, string>;
  agentLabels: Record<string, string>;
  labelsSetBy: 'agent' | 'operator';
  connectedTo: string | null;
}

let shared: Shared;
let cp: TestControlPlane;
let host: SimulatedHost | undefined;

beforeAll(async () => {
  shared = newShared();
  cp = await startTestControlPlane(shared);
}, 30_000);

afterAll(async () => {
  await host?.stop();
  await cp.stop();
  await dropShared(shared);
}, 30_000);

async function hostView(): Promise<HostView> {
  const r = await cp.api<HostView>('GET', '/api/v1/hosts/labels-1');
  expect(r.status).toBe(200);
  return r.body;
}

it('labels an operator set survive the agent reconnecting; handed back, they are the agent’s again', async () => {
  const token = await cp.api<{ token: string }>('POST', '/api/v1/enrollment-tokens', {
    name: 'labels',
    labels: { fleet: 'labels-test' },
  });
  expect(token.status).toBe(201);
  host = new SimulatedHost({
    address: cp.grpcAddress,
    enrollmentToken: token.body.token,
    hostname: 'labels-1',
    labels: { zone: 'a', rack: 'r1' },
    backoffBaseMs: 20,
    backoffCapMs: 100,
  });
  await host.start();
  const first = await eventually('the host to connect', async () => {
    const h = await cp.api<HostView>('GET', '/api/v1/hosts/labels-1');
    return h.status === 200 && h.body.connectedTo !== null && h.body;
  });
  const agents = { fleet: 'labels-test', zone: 'a', rack: 'r1' };
  expect(first).toMatchObject({ labels: agents, agentLabels: agents, labelsSetBy: 'agent' });

  const set = await cp.api<HostView>('PUT', `/api/v1/hosts/${first.id}/labels`, {
    labels: { zone: 'b', fleet: 'labels-test' },
  });
  expect(set.status).toBe(200);
  expect(set.body).toMatchObject({ labels: { zone: 'b', fleet: 'labels-test' } });
  expect(set.body.labelsSetBy).toBe('operator');

  // The agent reconnects and says Hello with zone=a again; the server answers
  // a Hello only after recording it.
  const sim = host;
  expect(sim.connections.ready).toBe(1);
  sim.dropStream();
  await eventually('a new Hello', () => sim.connections.ready >= 2, 15_000);
  const again = await hostView();
  expect(again.labels).toEqual({ zone: 'b', fleet: 'labels-test' });
  expect(again.agentLabels).toEqual(agents);
  expect(again.labelsSetBy).toBe('operator');

  const handedBack = await cp.api<HostView>('DELETE', `/api/v1/hosts/${first.id}/labels`);
  expect(handedBack.status).toBe(200);
  expect(handedBack.body).toMatchObject({ labels: agents, labelsSetBy: 'agent' });
  expect((await hostView()).labels).toEqual(agents);

  const audit = await cp.api<{ items: { action: string; actor: string }[] }>(
    'GET',
    `/api/v1/audit?targetId=${first.id}`,
  );
  // Newest first.
  expect(audit.body.items.map((a) => a.action)).toEqual([
    'host.labels.release',
    'host.labels.update',
    'host.enroll',
  ]);
}, 60_000);
