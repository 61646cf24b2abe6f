// The simulated hosts of bench:rollback, in a process of their own so that
// a thousand hosts' timers do not share the control plane's event loop.
// Driven over IPC: {type:'start', address, enrollmentToken, count, timeScale,
// versionId} → 'ready' once every host runs versionId; {type:'count'} →
// {type:'counted', reconnects}; {type:'stop'} → 'stopped'.
import { startSimulatedFleet, type SimulatedFleet } from '../../services/simulator/index.ts';

interface Start {
  type: 'start';
  address: string;
  enrollmentToken: string;
  count: number;
  timeScale: number;
  versionId: string;
}

let fleet: SimulatedFleet | undefined;
const send = (m: object): void => {
  process.send?.(m);
};

process.on('message', (m: Start | { type: 'stop' } | { type: 'count' }) => {
  void (async () => {
    try {
      if (m.type === 'start') {
        fleet = await startSimulatedFleet({
          count: m.count,
          address: m.address,
          enrollmentToken: m.enrollmentToken,
          timeScale: m.timeScale,
          seed: 11,
          reportEveryMs: 250,
        });
        await fleet.waitForAll((h) => h.applied?.versionId === m.versionId, 120_000);
        send({ type: 'ready' });
      } else if (m.type === 'count') {
        // Streams opened beyond the first per host: reconnects during the run.
        const opened = (fleet?.hosts ?? []).reduce((n, h) => n + h.connections.opened, 0);
        const why = new Map<string, number>();
        for (const h of fleet?.hosts ?? [])
          if (h.lastError) why.set(h.lastError, (why.get(h.lastError) ?? 0) + 1);
        send({
          type: 'counted',
          reconnects: opened - (fleet?.hosts.length ?? 0),
          lastErrors: Object.fromEntries(why),
        });
      } else {
        await fleet?.stop();
        send({ type: 'stopped' });
        process.exit(0);
      }
    } catch (err) {
      send({ type: 'error', message: (err as Error).message });
    }
  })();
});
