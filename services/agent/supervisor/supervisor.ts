// The supervisor: a small process that runs the agent worker and makes sure
// a dead or stalled worker never leaves a memcg without an OOM killer. The
// worker may have set oom_kill_disable=1 on memcgs it handles in user space;
// if it dies, those memcgs would hang at their limit forever. So whenever the
// worker exits, or stops sending heartbeats for longer than it promised, the
// supervisor writes oom_kill_disable=0 back on every memcg listed in the
// state file (plain fs writes, no policy code), then restarts the worker with
// backoff. It loads nothing heavy, so it stays small and is unlikely to be
// the process that is stuck.
import { fork, type ChildProcess } from 'node:child_process';

export interface Heartbeat {
  type: 'heartbeat';
  /** The worker promises its next heartbeat within this many ms. */
  withinMs: number;
}

/** The worker's exit code for "cannot start with this configuration" (sysexits EX_CONFIG). */
export const EXIT_CONFIG = 78;

const FIRST_HEARTBEAT_WITHIN_MS = 15_000;

export interface SupervisorOptions {
  /** The worker's entry module and arguments. */
  workerModule: string;
  workerArgs: string[];
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Hands every memcg back to the kernel's OOM killer; must be fast and synchronous. */
  restoreKernelOom: () => { restored: string[]; failed: { path: string; error: string }[] };
  /** First restart delay; doubles up to maxBackoffMs, reset once a worker has run stableAfterMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  stableAfterMs?: number;
  /** How long a worker may take to exit on SIGTERM before it is killed. */
  stopTimeoutMs?: number;
  /**
   * How long a new worker may take to send its first heartbeat (15 s unless
   * given). It may arm user-space OOM handling from its last-known-good
   * policy before then, so a worker stuck while starting is a stall too.
   */
  firstHeartbeatWithinMs?: number;
  log?: (line: string) => void;
  /** Called when the supervisor stops restarting a worker that cannot start. */
  onGiveUp?: (code: number) => void;
}

export interface Supervisor {
  readonly pid: number;
  worker(): ChildProcess | undefined;
  restarts(): number;
  /** Stops the worker (SIGTERM, then SIGKILL), restores kernel OOM handling, resolves when done. */
  stop(): Promise<void>;
}

export function startSupervisor(o: SupervisorOptions): Supervisor {
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const backoffBase = o.backoffMs ?? 1000;
  const backoffMax = o.maxBackoffMs ?? 30_000;
  const stableAfter = o.stableAfterMs ?? 60_000;
  let backoff = backoffBase;
  let child: ChildProcess | undefined;
  let restarts = 0;
  let stopping = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let restoredForStall = false;

  const restore = (why: string): void => {
    const r = o.restoreKernelOom();
    if (r.restored.length > 0 || r.failed.length > 0)
      log(
        `supervisor: ${why}: kernel OOM handling restored on ${r.restored.length} memcg(s)${r.failed.length ? `, ${r.failed.length} failed: ${r.failed.map((f) => `${f.path}: ${f.error}`).join('; ')}` : ''}`,
      );
  };

  const armWatchdog = (withinMs: number, what = 'silent'): void => {
    if (watchdog) clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      // A stalled worker cannot run its own fallback: hand OOM back to the kernel now.
      if (!restoredForStall) {
        restoredForStall = true;
        restore(`worker ${what} for ${withinMs} ms`);
      }
    }, withinMs);
    watchdog.unref();
  };

  const start = (): void => {
    const startedAt = Date.now();
    restoredForStall = false;
    const c = fork(o.workerModule, o.workerArgs, {
      execArgv: o.execArgv ?? process.execArgv,
      env: { ...(o.env ?? process.env), OOMFLEET_SUPERVISOR_PID: String(process.pid) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child = c;
    armWatchdog(o.firstHeartbeatWithinMs ?? FIRST_HEARTBEAT_WITHIN_MS, 'has sent no heartbeat');
    c.on('message', (m: unknown) => {
      const hb = m as Partial<Heartbeat>;
      if (hb.type === 'heartbeat' && typeof hb.withinMs === 'number') {
        restoredForStall = false;
        armWatchdog(hb.withinMs);
      }
    });
    c.on('exit', (code, signal) => {
      if (watchdog) clearTimeout(watchdog);
      if (child === c) child = undefined;
      restore(`worker ${c.pid ?? '?'} exited (${signal ?? `code ${code ?? '?'}`})`);
      if (stopping) return;
      if (code === EXIT_CONFIG) {
        // A worker that cannot start (bad flags, invalid policy file) would fail again.
        log('supervisor: the worker cannot start with this configuration; not restarting');
        o.onGiveUp?.(code);
        return;
      }
      if (Date.now() - startedAt >= stableAfter) backoff = backoffBase;
      log(`supervisor: restarting the worker in ${backoff} ms`);
      restartTimer = setTimeout(() => {
        restarts++;
        start();
      }, backoff);
      backoff = Math.min(backoff * 2, backoffMax);
    });
  };

  start();

  return {
    pid: process.pid,
    worker: () => child,
    restarts: () => restarts,
    stop: async () => {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      if (watchdog) clearTimeout(watchdog);
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        const exited = new Promise<void>((resolve) =>
          c.once('exit', () => {
            resolve();
          }),
        );
        c.kill('SIGTERM');
        const timer = setTimeout(() => c.kill('SIGKILL'), o.stopTimeoutMs ?? 5000);
        await exited;
        clearTimeout(timer);
      }
      restore('supervisor stopping');
    },
  };
}
