// A small client of the control plane's HTTP API (/api/v1), for the CLI.
// It knows the wire shapes and turns failures into two errors: the server
// answered with a problem (ControlPlaneError), or it could not be reached at
// all (ControlPlaneUnreachableError). Mapping those to exit codes and hints
// is the command's job.
import type { GateOutcome, GateResult, GateThresholds } from '../control-plane/rollouts/gates.ts';
import type { OnFailure, Phase, RolloutState } from '../control-plane/rollouts/model.ts';
import type {
  HostView,
  RolloutView,
  StepView,
  VerdictView,
} from '../control-plane/rollouts/view.ts';
import type { StepSize } from '../control-plane/rollouts/waves.ts';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';
const DEFAULT_TIMEOUT_MS = 30_000;

// ---- Wire shapes ---------------------------------------------------------
// The server's own types (type-only imports: nothing of the control plane is
// loaded), so that the CLI and the API cannot drift apart.

export type { GateOutcome, GateResult, OnFailure, RolloutState, StepSize };
export type RolloutPhase = Phase;
export type StepState = StepView['state'];
export type RolloutStep = StepView;
export type RolloutHostState = HostView['state'];
export type RolloutHost = HostView;
export type Verdict = VerdictView;
export type VerdictKind = VerdictView['verdict'];
export type Thresholds = Partial<GateThresholds>;
export type RolloutSettings = RolloutView['settings'];
/** A rollout as lists send it: without `hosts`. */
export type RolloutSummary = Omit<RolloutView, 'hosts'>;
export type Rollout = RolloutView;

export interface HistoryEvent {
  at: string;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
}

export interface StartRolloutBody {
  groupId: string;
  versionId: string;
  steps?: StepSize[];
  bakeSeconds?: number;
  ackTimeoutSeconds?: number;
  thresholds?: Thresholds;
  onFailure?: OnFailure;
  approvalAbovePercent?: number;
  spreadBy?: string[];
}

export type RolloutAction = 'pause' | 'resume' | 'promote' | 'abort' | 'approve';
export const ROLLOUT_ACTIONS: readonly RolloutAction[] = [
  'pause',
  'resume',
  'promote',
  'abort',
  'approve',
];

export interface GroupBrief {
  id: string;
  name: string;
}

export interface PolicyBrief {
  id: string;
  name: string;
}

export interface VersionBrief {
  id: string;
  policy: string;
  version: number;
  digest: string;
}

/** An application/problem+json body (RFC 9457) as the API sends it. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  hint?: string;
  errors?: { path?: string; message?: string; hint?: string }[];
}

// ---- Errors --------------------------------------------------------------

/** The server answered, with an error status. */
export class ControlPlaneError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    readonly url: string,
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.name = 'ControlPlaneError';
  }

  get code(): string | undefined {
    return this.problem.code;
  }

  get hint(): string | undefined {
    return this.problem.hint;
  }
}

/** Nothing answered at the server's address (refused, no such host, timed out). */
export class ControlPlaneUnreachableError extends Error {
  constructor(
    readonly server: string,
    readonly reason: string,
  ) {
    super(`cannot reach the control plane at ${server}: ${reason}`);
    this.name = 'ControlPlaneUnreachableError';
  }
}

// ---- Connection settings ---------------------------------------------------

export interface Connection {
  server: string;
  token: string | undefined;
  /** Where the server URL came from, for error messages. */
  serverSource: '--server' | 'OOMFLEET_SERVER' | 'default';
}

/** Flags win over the environment, the environment over the default. */
export function resolveConnection(
  flags: { server?: string; token?: string },
  env: Record<string, string | undefined> = process.env,
): Connection {
  const fromEnv = env.OOMFLEET_SERVER?.trim();
  const server = flags.server ?? (fromEnv || undefined) ?? DEFAULT_SERVER;
  const serverSource = flags.server ? '--server' : fromEnv ? 'OOMFLEET_SERVER' : 'default';
  const token = flags.token ?? (env.OOMFLEET_TOKEN?.trim() || undefined);
  return { server: server.replace(/\/+$/, ''), token, serverSource };
}

// ---- The client ----------------------------------------------------------

export interface ClientOptions {
  server: string;
  token?: string | undefined;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

function describeFetchFailure(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))
    return 'no answer in time';
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown }) : null;
  if (cause && typeof cause.code === 'string') {
    const what: Record<string, string> = {
      ECONNREFUSED: 'connection refused',
      ENOTFOUND: 'no such host',
      EAI_AGAIN: 'name lookup failed',
      ECONNRESET: 'connection reset',
      EHOSTUNREACH: 'host unreachable',
      ENETUNREACH: 'network unreachable',
      ETIMEDOUT: 'connection timed out',
      UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
    };
    return what[cause.code] ?? cause.code;
  }
  if (cause && typeof cause.message === 'string') return cause.message;
  return err instanceof Error ? err.message : String(err);
}

export class ControlPlaneClient {
  readonly server: string;
  private readonly token: string | undefined;
  private readonly fetchFn: typeof fetch;
  private readonly timeoutMs: number;

  constructor(opts: ClientOptions) {
    this.server = opts.server.replace(/\/+$/, '');
    this.token = opts.token;
    this.fetchFn = opts.fetch ?? fetch;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** One call to /api/v1; the parsed JSON body on 2xx, else a ControlPlaneError. */
  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = `${this.server}/api/v1${path}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new ControlPlaneUnreachableError(this.server, describeFetchFailure(err));
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const problem: Problem =
        parsed !== null && typeof parsed === 'object'
          ? parsed
          : {
              status: res.status,
              title: res.statusText,
              detail: `HTTP ${res.status} ${res.statusText} from ${url}${text ? `: ${text.slice(0, 200)}` : ''}`,
            };
      throw new ControlPlaneError(res.status, problem, url);
    }
    if (parsed === undefined)
      throw new ControlPlaneError(
        res.status,
        { detail: `the answer from ${url} is not JSON`, title: 'Unexpected answer' },
        url,
      );
    return parsed as T;
  }

  async listGroups(): Promise<GroupBrief[]> {
    return (await this.request<{ items: GroupBrief[] }>('GET', '/groups')).items;
  }

  async listPolicies(): Promise<PolicyBrief[]> {
    return (await this.request<{ items: PolicyBrief[] }>('GET', '/policies')).items;
  }

  /** The versions of a policy (by name: the route is keyed by name), newest first. */
  async listVersions(policyName: string): Promise<VersionBrief[]> {
    return (
      await this.request<{ items: VersionBrief[] }>(
        'GET',
        `/policies/${encodeURIComponent(policyName)}/versions`,
      )
    ).items;
  }

  startRollout(body: StartRolloutBody): Promise<Rollout> {
    return this.request<Rollout>('POST', '/rollouts', body);
  }

  listRollouts(filter: { state?: string; groupId?: string } = {}): Promise<{
    items: RolloutSummary[];
  }> {
    const q = new URLSearchParams();
    if (filter.state) q.set('state', filter.state);
    if (filter.groupId) q.set('groupId', filter.groupId);
    const qs = q.toString();
    return this.request('GET', `/rollouts${qs ? `?${qs}` : ''}`);
  }

  getRollout(id: string): Promise<Rollout> {
    return this.request<Rollout>('GET', `/rollouts/${encodeURIComponent(id)}`);
  }

  rolloutAction(id: string, action: RolloutAction, reason?: string): Promise<Rollout> {
    return this.request<Rollout>(
      'POST',
      `/rollouts/${encodeURIComponent(id)}/${action}`,
      reason !== undefined ? { reason } : {},
    );
  }

  rolloutHistory(id: string): Promise<{ items: HistoryEvent[] }> {
    return this.request('GET', `/rollouts/${encodeURIComponent(id)}/history`);
  }
}
