// The agent worker: wires the drivers, the engine, the state directory and
// the local endpoint together. The supervisor runs it as a child process
// (services/agent/worker-main.ts); tests may run it in-process.
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { createDriver, detectMemoryHierarchy } from './cgroup/detect.ts';
import type { MemcgDriver } from './cgroup/types.ts';
import { startEndpoint } from './endpoint/server.ts';
import type { AgentApi } from './endpoint/api.ts';
import { Engine, type SettingsApplier } from './engine/engine.ts';
import { createEventLog, type EventLog } from './events/log.ts';
import { createKiller } from './kill/killer.ts';
import { createHostReader } from './proc/index.ts';
import { StateStore } from './state/store.ts';
import { loadVetted } from './policy-check/vet.ts';
import type { ControlPlaneClient } from './control/client.ts';
import {
  ControlConfigError,
  resolveControlPlane,
  type ControlPlaneOptions,
  type ResolvedControlPlane,
} from './control/config.ts';

export const AGENT_VERSION = '0.1.0';

export interface WorkerOptions {
  stateDir: string;
  socketPath: string;
  /** A local policy file, for machines without a control plane. */
  policyFile?: string;
  /** The control plane to enrol with and take policies from (services/agent/control). */
  controlPlane?: ControlPlaneOptions;
  /** Override the detected memory hierarchy (v2 fixture trees, or a delegated subtree). */
  cgroupRoot?: string;
  cgroupMode?: 'v1' | 'v2' | 'none' | 'auto';
  procRoot?: string;
  supervisorPid?: number;
  heartbeat?: (withinMs: number) => void;
  /** The settings applier; the enforcer's, unless a test replaces it. */
  applier?: (driver: MemcgDriver, store: StateStore) => SettingsApplier;
  log?: (line: string) => void;
}

export interface Worker {
  engine: Engine;
  endpoint: Server;
  events: EventLog;
  /** The control-plane connection, when one is configured. */
  controlPlane?: ControlPlaneClient;
  stop(): Promise<void>;
}

export class WorkerStartError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'WorkerStartError';
  }
}

function driverFor(o: WorkerOptions): MemcgDriver | undefined {
  const mode = o.cgroupMode ?? 'auto';
  if (mode === 'none') return undefined;
  if (mode !== 'auto') {
    if (!o.cgroupRoot)
      throw new WorkerStartError(
        `--cgroup-mode ${mode} needs --cgroup-root`,
        'give the hierarchy root, e.g. /sys/fs/cgroup',
      );
    return createDriver(mode, o.cgroupRoot);
  }
  const found = detectMemoryHierarchy();
  if (found.mode === 'none' || !found.mountPoint) return undefined;
  return createDriver(found.mode, o.cgroupRoot ?? found.mountPoint);
}

export async function startWorker(o: WorkerOptions): Promise<Worker> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  let controlConfig: ResolvedControlPlane | undefined;
  if (o.controlPlane) {
    try {
      controlConfig = resolveControlPlane(o.controlPlane);
    } catch (err) {
      if (err instanceof ControlConfigError) throw new WorkerStartError(err.message, err.hint);
      throw err;
    }
  }
  const driver = driverFor(o);
  const host = createHostReader(
    o.procRoot ?? '/proc',
    driver ? { memoryHierarchy: { mode: driver.mode } } : { memoryHierarchy: { mode: 'none' } },
  );
  const store = new StateStore(o.stateDir, (problem) => {
    log(`agent: state: ${problem}`);
  });
  const hostname = osHostname();
  const events = createEventLog({ dir: join(o.stateDir, 'events'), host: hostname });
  const agentPids = (): number[] => [process.pid, ...(o.supervisorPid ? [o.supervisorPid] : [])];
  const killer = createKiller({
    driver,
    agentPids,
    procRoot: o.procRoot,
    newId: events.nextId,
    host: hostname,
    bootTimeMs: () => host.bootTimeMs(),
  });
  const engine = new Engine({
    driver,
    host,
    killer,
    events,
    store,
    applier: driver && o.applier ? o.applier(driver, store) : undefined,
    agentPids,
    hostname,
    version: AGENT_VERSION,
    supervisorPid: o.supervisorPid,
    heartbeat: o.heartbeat,
    log,
  });

  // Last-known-good first, so the host is protected before anything else can fail.
  // Checked in the child first, so that its patterns need no analysis here.
  const stored = store.load()?.policy;
  if (stored) await loadVetted({ value: stored.canonical }, log);
  const lkg = engine.restoreLastKnownGood();
  if (lkg && !lkg.ok) log(`agent: last-known-good policy not applied: ${lkg.reason}`);
  if (o.policyFile) {
    let text: string;
    try {
      text = readFileSync(o.policyFile, 'utf8');
    } catch (err) {
      throw new WorkerStartError(
        `${o.policyFile}: ${(err as Error).message}`,
        'check the --policy path',
      );
    }
    const r = await loadVetted({ text }, log);
    if (!r.ok || !r.canonical) {
      const first = r.issues.find((i) => i.severity !== 'warning');
      throw new WorkerStartError(
        `${o.policyFile}: invalid policy: ${first ? `${first.path} ${first.message}` : 'see oomfleet policy validate'}`,
        `run: oomfleet policy validate ${o.policyFile}`,
      );
    }
    const applied = engine.setPolicy(r.canonical, 'local');
    if (!applied.ok) log(`agent: ${o.policyFile}: refused: ${applied.reason}`);
  }

  const api: AgentApi = {
    status: () => engine.status(),
    explain: () => engine.explain(),
    dryRun: async (text) => engine.dryRun(await loadVetted({ text }, log)),
    events: ({ since, limit }) => events.since(since, limit).events,
    subscribe: (listener) =>
      events.subscribe((e) => {
        listener(e);
      }),
  };
  let endpoint: Server;
  try {
    endpoint = await startEndpoint(api, o.socketPath);
  } catch (err) {
    engine.stop();
    throw new WorkerStartError(
      `cannot listen on ${o.socketPath}: ${(err as Error).message}`,
      'run the agent as root, or give a writable path with --socket',
    );
  }
  engine.start();
  // After the last-known-good policy is enforced: fail-static whatever the control plane does.
  // Loaded only when configured: gRPC is most of the worker's code, and a
  // worker enforcing a local policy should not carry it.
  const controlPlane = controlConfig
    ? (await import('./control/client.ts')).startControlPlaneClient(
        controlConfig,
        {
          stateDir: o.stateDir,
          engine,
          events,
          hostname,
          agentVersion: AGENT_VERSION,
          log,
          vet: (value) => loadVetted({ value }, log),
        },
        o.controlPlane,
      )
    : undefined;
  log(
    `agent: running (pid ${process.pid}, cgroup ${driver ? `${driver.mode} at ${driver.root}` : 'none'}, endpoint ${o.socketPath})`,
  );

  return {
    engine,
    endpoint,
    events,
    ...(controlPlane ? { controlPlane } : {}),
    stop: async () => {
      await controlPlane?.stop();
      engine.stop();
      await new Promise<void>((resolve) =>
        endpoint.close(() => {
          resolve();
        }),
      );
      events.close();
    },
  };
}
