// Runs the agent: this process supervises, the worker runs in a child it
// restarts. Imports only node built-ins and the supervisor's own small
// modules, so `oomfleet agent run` stays lean (see bin/oomfleet.js).
import { join } from 'node:path';
import { entryPoint } from '../entry-points.ts';
import { restoreKernelOom, STATE_FILE } from '../state/kernel-oom.ts';
import { EXIT_CONFIG, startSupervisor } from './supervisor.ts';

export { DEFAULT_SOCKET_PATH, DEFAULT_STATE_DIR } from '../paths.ts';
export const CGROUP_MODES = ['auto', 'v1', 'v2', 'none'] as const;

export interface RunFlags {
  policy?: string;
  stateDir: string;
  socket: string;
  cgroupRoot?: string;
  cgroupMode: (typeof CGROUP_MODES)[number];
}

/** Resolves with the exit code: 0 after SIGTERM/SIGINT, 1 when the worker cannot start. */
export function runAgent(flags: RunFlags, log: (line: string) => void): Promise<number> {
  // The worker's options (services/agent/worker.ts WorkerOptions), as JSON.
  const worker = {
    stateDir: flags.stateDir,
    socketPath: flags.socket,
    cgroupMode: flags.cgroupMode,
    ...(flags.policy ? { policyFile: flags.policy } : {}),
    ...(flags.cgroupRoot ? { cgroupRoot: flags.cgroupRoot } : {}),
  };
  return new Promise<number>((resolve) => {
    const entry = entryPoint('worker');
    const sup = startSupervisor({
      workerModule: entry.module,
      workerArgs: [JSON.stringify(worker)],
      execArgv: entry.execArgv,
      restoreKernelOom: () => restoreKernelOom(join(flags.stateDir, STATE_FILE)),
      log,
      onGiveUp: (c) => {
        resolve(c === EXIT_CONFIG ? 1 : c);
      },
    });
    const stop = (): void => {
      void sup.stop().then(() => {
        resolve(0);
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
