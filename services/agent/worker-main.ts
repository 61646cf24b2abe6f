// Entry point of the worker process the supervisor forks. Options arrive as
// one JSON argument; heartbeats go back over the IPC channel.
import { startWorker, WorkerStartError, type WorkerOptions } from './worker.ts';
import { enforcerApplier } from './enforce/applier.ts';
import { EXIT_CONFIG } from './supervisor/supervisor.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as WorkerOptions;
const supervisorPid = Number(process.env.OOMFLEET_SUPERVISOR_PID) || undefined;

try {
  const worker = await startWorker({
    ...options,
    supervisorPid,
    applier: enforcerApplier,
    heartbeat: (withinMs) => process.send?.({ type: 'heartbeat', withinMs }),
  });
  const shutdown = (): void => {
    // Hand every memcg back to the kernel's OOM killer before exiting.
    void worker.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
} catch (err) {
  if (err instanceof WorkerStartError) {
    process.stderr.write(`oomfleet agent: ${err.message}\n    hint: ${err.hint}\n`);
    // The supervisor does not restart a worker that cannot start.
    process.exit(EXIT_CONFIG);
  }
  throw err;
}
