// `oomfleet agent status` shows the control-plane connection.
import { describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../agent/endpoint/api.ts';
import type { Io } from '../output.ts';
import { renderStatus } from './agent.ts';

function capture(): { io: Io; text: () => string } {
  const out: string[] = [];
  const io: Io = {
    out: (l) => {
      out.push(l);
    },
    err: (l) => {
      out.push(l);
    },
    color: false,
  };
  return { io, text: () => out.join('\n') };
}

const base: AgentStatus = {
  version: '0.1.0',
  pid: 10,
  startedAt: 0,
  hostname: 'h1',
  cgroup: { mode: 'none', unsupported: [] },
  counters: { kills: 0, fallbacks: 0, evaluations: 0, errors: 0 },
  controlPlane: { state: 'disabled' },
};

describe('agent status: control plane', () => {
  it('shows the state, address, host id and version', () => {
    const { io, text } = capture();
    renderStatus(
      io,
      {
        ...base,
        policy: {
          name: 'batch',
          digest: `sha256:${'a'.repeat(64)}`,
          source: 'control-plane',
          versionId: 'v-1',
          version: 3,
          appliedAt: 0,
          intervalMs: 1000,
        },
        controlPlane: { state: 'connected', address: 'cp:7443', since: 50_000, hostId: 'host-1' },
      },
      60_000,
    );
    expect(text()).toMatch(/control plane\s+connected cp:7443 since 10s ago/);
    expect(text()).toMatch(/host id\s+host-1/);
    expect(text()).toMatch(/policy\s+batch v3 sha256:/);
    expect(text()).not.toMatch(/last error/);
  });

  it('shows why it is disconnected', () => {
    const { io, text } = capture();
    renderStatus(io, {
      ...base,
      controlPlane: {
        state: 'disconnected',
        address: 'cp:7443',
        since: 0,
        lastError: 'UNAVAILABLE: No connection established',
      },
    });
    expect(text()).toMatch(/control plane\s+disconnected cp:7443/);
    expect(text()).toMatch(/last error\s+UNAVAILABLE: No connection established/);
  });
});
