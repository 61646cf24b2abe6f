// Runs the agent: this process supervises, the worker runs in a child it
// restarts. Imports only node built-ins and the supervisor's own small
// modules, so `oomfleet agent run` stays lean (see bin/oomfleet.js).
import { join } from 'node:path';
import { entryPoint } from '../entry-points.ts';
import {
  checkControlPlaneOptions,
  ControlConfigError,
  parseLabels,
  type ControlPlaneOptions,
} from '../control/config.ts';
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
  /** host:port of the control plane; without it the agent runs its local policy alone. */
  controlPlane?: string;
  enrollmentToken?: string;
  enrollmentTokenFile?: string;
  /** k=v,k2=v2 */
  labels?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/**
 * The worker's control-plane options from the flags; undefined without
 * --control-plane. Throws ControlConfigError (services/agent/control/config.ts)
 * when the flags are wrong.
 */
export function controlPlaneOptions(flags: RunFlags): ControlPlaneOptions | undefined {
  if (!flags.controlPlane) {
    const stray = (
      [
        ['--enrollment-token', flags.enrollmentToken],
        ['--enrollment-token-file', flags.enrollmentTokenFile],
        ['--labels', flags.labels],
        ['--tls-ca', flags.tlsCa],
        ['--tls-cert', flags.tlsCert],
        ['--tls-key', flags.tlsKey],
      ] as const
    ).find(([, v]) => v !== undefined);
    if (stray)
      throw new ControlConfigError(
        `${stray[0]} needs --control-plane`,
        'give the control plane: --control-plane HOST:PORT',
      );
    return undefined;
  }
  return checkControlPlaneOptions({
    address: flags.controlPlane,
    ...(flags.enrollmentToken ? { enrollmentToken: flags.enrollmentToken } : {}),
    ...(flags.enrollmentTokenFile ? { enrollmentTokenFile: flags.enrollmentTokenFile } : {}),
    ...(flags.labels ? { labels: parseLabels(flags.labels) } : {}),
    ...(flags.tlsCa ? { tlsCa: flags.tlsCa } : {}),
    ...(flags.tlsCert ? { tlsCert: flags.tlsCert } : {}),
    ...(flags.tlsKey ? { tlsKey: flags.tlsKey } : {}),
  });
}

/** Resolves with the exit code: 0 after SIGTERM/SIGINT, 1 when the worker cannot start. */
export function runAgent(flags: RunFlags, log: (line: string) => void): Promise<number> {
  let controlPlane: ControlPlaneOptions | undefined;
  try {
    controlPlane = controlPlaneOptions(flags);
  } catch (err) {
    if (!(err instanceof ControlConfigError)) throw err;
    log(`oomfleet agent: ${err.message}\n    hint: ${err.hint}`);
    return Promise.resolve(1);
  }
  // The worker's options (services/agent/worker.ts WorkerOptions), as JSON.
  const worker = {
    stateDir: flags.stateDir,
    socketPath: flags.socket,
    cgroupMode: flags.cgroupMode,
    ...(controlPlane ? { controlPlane } : {}),
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
