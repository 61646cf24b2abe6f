// The supervisor with real worker processes: it must hand OOM handling back
// to the kernel within a second of the worker dying or stalling, restart
// the worker with backoff, and stop cleanly.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSupervisor, type Supervisor } from './supervisor.ts';

const worker = join(import.meta.dirname, '../../../test/fixtures/agent/heartbeat-worker.js');

let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.stop();
  sup = undefined;
});

function waitFor(cond: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve(Date.now() - start);
      else if (Date.now() - start > timeoutMs) reject(new Error(`not within ${timeoutMs} ms`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

function supervise(
  args: string[] = [],
  extra: { firstHeartbeatWithinMs?: number } = {},
): { restores: { at: number }[]; lines: string[] } {
  const restores: { at: number }[] = [];
  const lines: string[] = [];
  sup = startSupervisor({
    workerModule: worker,
    workerArgs: args,
    execArgv: [],
    backoffMs: 100,
    restoreKernelOom: () => {
      restores.push({ at: Date.now() });
      return { restored: ['/sys/fs/cgroup/memory/x'], failed: [] };
    },
    log: (l) => lines.push(l),
    ...extra,
  });
  return { restores, lines };
}

describe('supervisor', () => {
  it('restores kernel OOM handling within 1 s of the worker being SIGKILLed, then restarts it', async () => {
    const { restores, lines } = supervise();
    await waitFor(() => sup?.worker()?.pid !== undefined, 5000);
    const first = sup?.worker()?.pid ?? 0;
    const killedAt = Date.now();
    process.kill(first, 'SIGKILL');
    await waitFor(() => restores.length >= 1, 1000);
    expect((restores[0]?.at ?? Infinity) - killedAt).toBeLessThan(1000);
    expect(lines.join('\n')).toMatch(/exited \(SIGKILL\)/);
    await waitFor(() => (sup?.worker()?.pid ?? first) !== first, 3000);
    expect(sup?.restarts()).toBe(1);
  });

  it('restores kernel OOM handling when the worker stalls (SIGSTOP), without killing it', async () => {
    const { restores, lines } = supervise(['50', '200']);
    await waitFor(() => sup?.worker()?.pid !== undefined, 5000);
    // The first heartbeat arms the watchdog; a loaded machine may take a
    // while to start the worker's node, so wait for it rather than a time.
    let beats = 0;
    sup?.worker()?.on('message', (m: { type?: string }) => {
      if (m.type === 'heartbeat') beats++;
    });
    await waitFor(() => beats >= 2, 10_000);
    const pid = sup?.worker()?.pid ?? 0;
    const stoppedAt = Date.now();
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor(() => restores.length >= 1, 1000);
      expect((restores[0]?.at ?? Infinity) - stoppedAt).toBeLessThan(1000);
      expect(lines.join('\n')).toMatch(/worker silent for 200 ms/);
      expect(sup?.worker()?.pid).toBe(pid);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  it('restores kernel OOM handling when a new worker never sends its first heartbeat', async () => {
    // Beats every 60 s: as good as a worker stuck while it starts.
    const { restores, lines } = supervise(['60000', '200'], { firstHeartbeatWithinMs: 300 });
    await waitFor(() => restores.length >= 1, 5000);
    expect(lines.join('\n')).toMatch(/worker has sent no heartbeat for 300 ms/);
    expect(sup?.restarts()).toBe(0); // stalled, not dead: left running
  });

  it('a worker that keeps sending heartbeats is left alone', async () => {
    // A 50 ms beat against a 600 ms promise: a loaded machine may delay a
    // beat or two, which must not count as a stall.
    const { restores } = supervise(['50', '600']);
    await new Promise((r) => setTimeout(r, 1500));
    expect(restores).toHaveLength(0);
    expect(sup?.restarts()).toBe(0);
  });

  it('stop() sends SIGTERM, waits for the worker and restores kernel OOM handling', async () => {
    const { restores } = supervise();
    await waitFor(() => sup?.worker()?.pid !== undefined, 5000);
    const pid = sup?.worker()?.pid ?? 0;
    await sup?.stop();
    sup = undefined;
    expect(restores.length).toBeGreaterThanOrEqual(1);
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('backs off between restarts of a worker that keeps dying', async () => {
    const { lines } = supervise();
    for (let i = 0; i < 3; i++) {
      await waitFor(() => sup?.worker()?.pid !== undefined, 5000);
      const pid = sup?.worker()?.pid ?? 0;
      process.kill(pid, 'SIGKILL');
      await waitFor(() => sup?.worker()?.pid !== pid && sup?.worker() !== undefined, 5000);
    }
    const delays = lines
      .filter((l) => l.includes('restarting'))
      .map((l) => Number(/in (\d+) ms/.exec(l)?.[1]));
    expect(delays.slice(0, 3)).toEqual([100, 200, 400]);
  });
});
