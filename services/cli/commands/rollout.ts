// `oomfleet rollout …`: start a staged rollout of a policy version to a host
// group, watch it step, bake and get judged, and steer it (pause, resume,
// promote, abort, approve). A client of the control plane's /api/v1.
import { Command, Option } from 'commander';
import { parseDuration, UnitError } from '../../policy/index.ts';
import {
  ControlPlaneClient,
  ControlPlaneError,
  ControlPlaneUnreachableError,
  resolveConnection,
  type Connection,
  type OnFailure,
  type Rollout,
  type RolloutAction,
  type StartRolloutBody,
  type StepSize,
  type Thresholds,
} from '../control-plane-client.ts';
import { CliError, EXIT_INVALID, EXIT_OK, EXIT_USAGE } from '../errors.ts';
import { json, type Io } from '../output.ts';
import {
  finalLine,
  followLine,
  isTerminal,
  renderHistory,
  renderRollout,
  renderRolloutList,
  stepOf,
} from '../render-rollout.ts';

// ---- Argument parsing (exported for tests) --------------------------------

function usage(message: string, hint: string): CliError {
  return new CliError(message, EXIT_USAGE, hint);
}

const STEPS_HINT =
  'write cumulative steps separated by commas: a host count or a percentage of the group, e.g. --steps "1,5%,25%,100%"';

/** "1,5%,25%,100%" → [{hosts:1},{percent:5},{percent:25},{percent:100}]. */
export function parseSteps(text: string, flag = '--steps'): StepSize[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.every((p) => p === ''))
    throw usage(`${flag} is empty`, STEPS_HINT);
  const steps: StepSize[] = [];
  let lastHosts = 0;
  let lastPercent = 0;
  for (const [i, p] of parts.entries()) {
    const where = `${flag} step ${i + 1} (${JSON.stringify(p)})`;
    if (p === '') throw usage(`${where} is empty`, STEPS_HINT);
    let m = /^([0-9]+(?:\.[0-9]+)?)%$/.exec(p);
    if (m) {
      const percent = Number(m[1]);
      if (!(percent > 0 && percent <= 100))
        throw usage(
          `${where} is out of range`,
          'a percentage step is more than 0% and at most 100%',
        );
      if (percent <= lastPercent)
        throw usage(
          `${where} is not larger than the step before it (${lastPercent}%)`,
          'steps are cumulative: each covers more of the group than the last, e.g. 5%,25%,100%',
        );
      lastPercent = percent;
      steps.push({ percent });
      continue;
    }
    m = /^([0-9]+)$/.exec(p);
    if (m) {
      const hosts = Number(m[1]);
      if (!Number.isSafeInteger(hosts) || hosts < 1)
        throw usage(`${where} has no hosts`, 'a host-count step is a whole number of 1 or more');
      if (hosts <= lastHosts)
        throw usage(
          `${where} is not larger than the step before it (${lastHosts} hosts)`,
          'steps are cumulative: each covers more hosts than the last, e.g. 1,10,50',
        );
      lastHosts = hosts;
      steps.push({ hosts });
      continue;
    }
    throw usage(`${where} is neither a host count nor a percentage`, STEPS_HINT);
  }
  return steps;
}

/** A duration flag ("10m", "1m30s") as whole seconds, via the policy language's parser. */
export function parseDurationSeconds(
  text: string,
  flag: string,
  opts: { min?: number } = {},
): number {
  let ms: number;
  try {
    ms = parseDuration(text.trim());
  } catch (e) {
    if (e instanceof UnitError) throw usage(`${flag} ${text}: ${e.message}`, e.hint);
    throw e;
  }
  if (ms % 1000 !== 0)
    throw usage(
      `${flag} ${text} is not a whole number of seconds`,
      'use seconds or larger units, e.g. 30s, 10m, 1h',
    );
  const seconds = ms / 1000;
  const min = opts.min ?? 0;
  if (seconds < min)
    throw usage(`${flag} ${text} is too short`, `use at least ${min}s, e.g. ${flag} 2m`);
  return seconds;
}

/** "50%" or "50" → 50, in [0, 100]. */
export function parsePercentFlag(text: string, flag: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*%?\s*$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!m || !(n >= 0 && n <= 100))
    throw usage(
      `${flag} ${text} is not a percentage`,
      `write a value from 0% to 100%, e.g. ${flag} 50%`,
    );
  return n;
}

/**
 * A non-negative number; with `fraction`, a ratio in [0, 1] that may also be
 * written as a percentage ("5%" → 0.05).
 */
export function parseNumberFlag(
  text: string,
  flag: string,
  opts: { fraction?: boolean; min?: number } = {},
): number {
  const t = text.trim();
  const pct = /^([0-9]+(?:\.[0-9]+)?)%$/.exec(t);
  let n: number;
  if (pct && opts.fraction) n = Number(pct[1]) / 100;
  else if (/^[0-9]+(\.[0-9]+)?$|^\.[0-9]+$/.test(t)) n = Number(t);
  else
    throw usage(
      `${flag} ${text} is not a number`,
      opts.fraction
        ? `write a ratio from 0 to 1 or a percentage, e.g. ${flag} 0.05 or ${flag} 5%`
        : `write a number of 0 or more, e.g. ${flag} 2`,
    );
  if (opts.min !== undefined && n < opts.min)
    throw usage(
      `${flag} ${text} is less than ${opts.min}`,
      `use ${opts.min} or more, e.g. ${flag} 2`,
    );
  if (opts.fraction && n > 1)
    throw usage(`${flag} ${text} is more than 1`, `a ratio is from 0 to 1, e.g. ${flag} 0.05 (5%)`);
  return n;
}

/** "zone,kernel" → ["zone","kernel"]: label keys to spread each step across. */
export function parseSpreadBy(text: string, flag = '--spread-by'): string[] {
  const keys = text.split(',').map((k) => k.trim());
  const bad = keys.find((k) => !/^[A-Za-z0-9][A-Za-z0-9_.\-/]*$/.test(k));
  if (bad !== undefined)
    throw usage(
      `${flag}: ${JSON.stringify(bad)} is not a label key`,
      `list label keys separated by commas, e.g. ${flag} zone,kernel`,
    );
  return [...new Set(keys)];
}

export interface StartFlags {
  steps?: string;
  bake?: string;
  ackTimeout?: string;
  onFailure?: string;
  approvalAbove?: string;
  spreadBy?: string;
  maxNackRatio?: string;
  maxSilentRatio?: string;
  maxRateRatio?: string;
  minRateExcess?: string;
  minHostHours?: string;
}

/** The optional part of the POST /rollouts body, from the flags; unset flags are left to the server. */
export function startSettings(f: StartFlags): Omit<StartRolloutBody, 'groupId' | 'versionId'> {
  const body: Omit<StartRolloutBody, 'groupId' | 'versionId'> = {};
  if (f.steps !== undefined) body.steps = parseSteps(f.steps);
  if (f.bake !== undefined) body.bakeSeconds = parseDurationSeconds(f.bake, '--bake');
  if (f.ackTimeout !== undefined)
    body.ackTimeoutSeconds = parseDurationSeconds(f.ackTimeout, '--ack-timeout', { min: 1 });
  if (f.onFailure !== undefined) {
    if (f.onFailure !== 'rollback' && f.onFailure !== 'pause')
      throw usage(
        `--on-failure ${f.onFailure} is not rollback or pause`,
        'use --on-failure rollback (undo the step) or --on-failure pause (wait for an operator)',
      );
    body.onFailure = f.onFailure satisfies OnFailure;
  }
  if (f.approvalAbove !== undefined)
    body.approvalAbovePercent = parsePercentFlag(f.approvalAbove, '--approval-above');
  if (f.spreadBy !== undefined) body.spreadBy = parseSpreadBy(f.spreadBy);
  const thresholds: Thresholds = {};
  if (f.maxNackRatio !== undefined)
    thresholds.maxNackRatio = parseNumberFlag(f.maxNackRatio, '--max-nack-ratio', {
      fraction: true,
    });
  if (f.maxSilentRatio !== undefined)
    thresholds.maxSilentRatio = parseNumberFlag(f.maxSilentRatio, '--max-silent-ratio', {
      fraction: true,
    });
  if (f.maxRateRatio !== undefined)
    thresholds.maxRateRatio = parseNumberFlag(f.maxRateRatio, '--max-rate-ratio', {
      min: 1,
    });
  if (f.minRateExcess !== undefined)
    thresholds.minRateExcess = parseNumberFlag(f.minRateExcess, '--min-rate-excess');
  if (f.minHostHours !== undefined)
    thresholds.minHostHours = parseNumberFlag(f.minHostHours, '--min-host-hours');
  if (Object.keys(thresholds).length > 0) body.thresholds = thresholds;
  return body;
}

// ---- Talking to the server ------------------------------------------------

interface Common {
  server?: string;
  token?: string;
  json?: boolean;
}

export interface RolloutDeps {
  fetch?: typeof fetch;
  env?: Record<string, string | undefined>;
  /** Whether stdout is a terminal (clear-and-redraw when following). */
  isTTY?: boolean;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  pollMs?: number;
}

/** A server or client failure as a CliError: the problem's detail and hint, exit 1. */
export function toCliError(err: unknown, conn: Connection): unknown {
  if (err instanceof ControlPlaneUnreachableError)
    return new CliError(
      err.message,
      EXIT_INVALID,
      conn.serverSource === '--server'
        ? 'is the control plane running there? check the --server URL'
        : conn.serverSource === 'OOMFLEET_SERVER'
          ? `is the control plane running there? OOMFLEET_SERVER is ${conn.server}; change it or pass --server URL`
          : 'is the control plane running? point at it with --server URL or OOMFLEET_SERVER',
    );
  if (err instanceof ControlPlaneError) {
    const p = err.problem;
    const items = (p.errors ?? [])
      .map(
        (e) =>
          `\n    ${e.path ? `${e.path}: ` : ''}${e.message ?? ''}${e.hint ? ` (${e.hint})` : ''}`,
      )
      .join('');
    let hint = p.hint;
    if (!hint && err.status === 401)
      hint = conn.token
        ? 'the token was refused: check --token or OOMFLEET_TOKEN'
        : 'pass an API token with --token T or set OOMFLEET_TOKEN';
    if (!hint && err.status === 403) hint = 'use a token with a role that allows this';
    if (!hint && p.code === 'route-not-found')
      hint = `is ${conn.server} a control plane new enough to serve /api/v1/rollouts?`;
    return new CliError(`${err.message}${items}`, EXIT_INVALID, hint);
  }
  return err;
}

function connect(o: Common, deps: RolloutDeps): { client: ControlPlaneClient; conn: Connection } {
  const conn = resolveConnection(o, deps.env ?? process.env);
  let url: URL;
  try {
    url = new URL(conn.server);
  } catch {
    throw usage(
      `${conn.serverSource === 'default' ? 'the server' : conn.serverSource} ${JSON.stringify(conn.server)} is not a URL`,
      'write it as http://HOST:PORT, e.g. --server http://127.0.0.1:8080',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw usage(
      `${conn.serverSource} ${conn.server} is not an http(s) URL`,
      'write it as http://HOST:PORT or https://HOST',
    );
  return {
    client: new ControlPlaneClient({
      server: conn.server,
      token: conn.token,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    }),
    conn,
  };
}

async function call<T>(conn: Connection, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toCliError(err, conn);
  }
}

function nameList(names: string[]): string {
  const shown = names.slice(0, 10).join(', ');
  return names.length > 10 ? `${shown}, … (${names.length} in all)` : shown;
}

async function resolveGroup(
  c: ControlPlaneClient,
  ref: string,
): Promise<{ id: string; name: string }> {
  const groups = await c.listGroups();
  const g = groups.find((x) => x.id === ref) ?? groups.find((x) => x.name === ref);
  if (!g)
    throw new CliError(
      `--group: no host group named or with id ${JSON.stringify(ref)}`,
      EXIT_INVALID,
      groups.length > 0
        ? `groups: ${nameList(groups.map((x) => x.name))}`
        : 'the server has no host groups yet',
    );
  return g;
}

async function resolveVersion(
  c: ControlPlaneClient,
  ref: string,
  version: number | undefined,
): Promise<{ id: string; version: number; policy: string }> {
  const policies = await c.listPolicies();
  const p = policies.find((x) => x.id === ref) ?? policies.find((x) => x.name === ref);
  if (!p)
    throw new CliError(
      `--policy: no policy named or with id ${JSON.stringify(ref)}`,
      EXIT_INVALID,
      policies.length > 0
        ? `policies: ${nameList(policies.map((x) => x.name))}`
        : 'the server has no policies yet',
    );
  const versions = await c.listVersions(p.name);
  if (versions.length === 0)
    throw new CliError(`policy ${p.name} has no versions`, EXIT_INVALID, 'upload one first');
  const v =
    version === undefined
      ? versions.reduce((a, b) => (b.version > a.version ? b : a))
      : versions.find((x) => x.version === version);
  if (!v)
    throw new CliError(
      `--policy-version: policy ${p.name} has no version ${version}`,
      EXIT_INVALID,
      `its versions are ${nameList(versions.map((x) => String(x.version)).reverse())}`,
    );
  return { id: v.id, version: v.version, policy: p.name };
}

export function parseVersionFlag(text: string): number {
  const t = text.trim().replace(/^v/i, '');
  if (!/^[0-9]+$/.test(t) || Number(t) < 1)
    throw usage(
      `--policy-version ${text} is not a version number`,
      'versions are numbered from 1, e.g. --policy-version 3',
    );
  return Number(t);
}

// ---- Following ------------------------------------------------------------

const CLEAR = '\x1b[H\x1b[2J';
/** Consecutive failed polls tolerated while following before giving up. */
const MAX_POLL_FAILURES = 30;

/**
 * Polls the rollout until it is terminal. A terminal redraws the whole view;
 * anything else gets a line when something changed (JSON lines with --json).
 * Returns the last rollout seen.
 */
async function follow(
  io: Io,
  client: ControlPlaneClient,
  conn: Connection,
  first: Rollout,
  o: Common,
  deps: RolloutDeps,
): Promise<Rollout> {
  const sleep = deps.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = deps.now ?? Date.now;
  const tty = !o.json && (deps.isTTY ?? process.stdout.isTTY);
  let last = '';
  let failures = 0;
  let r = first;
  for (;;) {
    if (tty) io.out(`${CLEAR}${renderRollout(r, now(), { color: io.color })}`);
    else {
      const line = o.json ? JSON.stringify(r) : followLine(r);
      if (line !== last)
        io.out(o.json ? line : `${new Date(now()).toISOString().slice(11, 19)}Z  ${line}`);
      last = line;
    }
    if (isTerminal(r.state)) return r;
    await sleep(deps.pollMs ?? 1000);
    try {
      r = await client.getRollout(r.id);
      failures = 0;
    } catch (err) {
      if (!(err instanceof ControlPlaneUnreachableError) || ++failures > MAX_POLL_FAILURES)
        throw toCliError(err, conn);
      if (failures === 1) io.err(`oomfleet: ${err.message}; retrying`);
    }
  }
}

function finish(io: Io, r: Rollout, o: Common, setExit: (code: number) => void): void {
  if (!o.json) io.out(finalLine(r));
  setExit(r.state === 'succeeded' ? EXIT_OK : EXIT_INVALID);
}

// ---- The command ----------------------------------------------------------

export function rolloutCommand(
  io: Io,
  setExit: (code: number) => void,
  deps: RolloutDeps = {},
): Command {
  const cmd = new Command('rollout').description(
    'stage a policy version onto a host group step by step, judged by gates, with rollback',
  );
  const common = (c: Command): Command =>
    c
      .addOption(
        new Option(
          '--server <url>',
          `control-plane URL (OOMFLEET_SERVER, default http://127.0.0.1:8080)`,
        ),
      )
      .addOption(new Option('--token <token>', 'API token (OOMFLEET_TOKEN)'))
      .addOption(new Option('--json', 'print the raw JSON'));

  common(
    cmd
      .command('start')
      .description('start a rollout of a policy version to a host group')
      .requiredOption('--group <name|id>', 'the host group')
      .requiredOption('--policy <name|id>', 'the policy')
      .option('--policy-version <n>', 'the policy version (default: the latest)')
      // `--version` is the root program's flag unless main enables positional options.
      .addOption(new Option('--version <n>', 'same as --policy-version').hideHelp())
      .option(
        '--steps <list>',
        'cumulative steps: host counts or percentages, e.g. "1,5%,25%,100%"',
      )
      .option('--bake <duration>', 'how long each step bakes before it is judged, e.g. 10m')
      .option('--ack-timeout <duration>', "how long a step waits for hosts' acks, e.g. 2m")
      .option('--on-failure <what>', 'rollback or pause when a step fails')
      .option('--approval-above <percent>', 'steps above this share of the group wait for approval')
      .option('--spread-by <keys>', 'label keys to spread each step across, e.g. zone,kernel')
      .option('--max-nack-ratio <ratio>', 'gate: most hosts that may refuse the version (0-1 or %)')
      .option('--max-silent-ratio <ratio>', 'gate: most hosts that may stay silent (0-1 or %)')
      .option('--max-rate-ratio <x>', 'gate: most OOM-kill rate, new over old')
      .option('--min-rate-excess <x>', 'gate: least excess rate before the ratio gate can fail')
      .option('--min-host-hours <x>', 'gate: least host-hours of data before judging')
      .option('-f, --follow', 'follow the rollout until it finishes'),
  ).action(
    async (
      o: Common &
        StartFlags & {
          group: string;
          policy: string;
          version?: string;
          policyVersion?: string;
          follow?: boolean;
        },
    ) => {
      // Check every flag before asking the server anything.
      const settings = startSettings(o);
      if (o.version !== undefined && o.policyVersion !== undefined && o.version !== o.policyVersion)
        throw usage(
          `--version ${o.version} and --policy-version ${o.policyVersion} disagree`,
          'give one of them',
        );
      const versionText = o.policyVersion ?? o.version;
      const version = versionText !== undefined ? parseVersionFlag(versionText) : undefined;
      const { client, conn } = connect(o, deps);
      const group = await call(conn, () => resolveGroup(client, o.group));
      const v = await call(conn, () => resolveVersion(client, o.policy, version));
      const r = await call(conn, () =>
        client.startRollout({ groupId: group.id, versionId: v.id, ...settings }),
      );
      if (o.follow) {
        if (!o.json) io.out(`rollout ${r.id} started: ${v.policy} v${v.version} → ${group.name}`);
        finish(io, await follow(io, client, conn, r, o, deps), o, setExit);
        return;
      }
      if (o.json) io.out(json(r));
      else {
        io.out(`rollout ${r.id} started: ${v.policy} v${v.version} → ${group.name}`);
        io.out(`${r.state}/${r.phase}, ${stepOf(r)}`);
        io.out(`follow it: oomfleet rollout status ${r.id} --follow`);
      }
      setExit(EXIT_OK);
    },
  );

  common(
    cmd
      .command('status')
      .description('steps, latest verdict and its gates, hosts by state')
      .argument('<id>', 'the rollout')
      .option(
        '-f, --follow',
        'poll every second until the rollout finishes; exit 1 if rolled back',
      ),
  ).action(async (id: string, o: Common & { follow?: boolean }) => {
    const { client, conn } = connect(o, deps);
    const r = await call(conn, () => client.getRollout(id));
    if (o.follow) {
      finish(io, await follow(io, client, conn, r, o, deps), o, setExit);
      return;
    }
    io.out(o.json ? json(r) : renderRollout(r, (deps.now ?? Date.now)(), { color: io.color }));
    setExit(EXIT_OK);
  });

  const actions: [RolloutAction, string][] = [
    ['pause', 'stop before the next step; hosts keep what they have'],
    ['resume', 'continue a paused rollout'],
    ['promote', 'pass the current step now, without waiting for its bake or verdict'],
    ['abort', 'stop and roll every host back to its previous version'],
    ['approve', 'let a rollout waiting for approval take its next step'],
  ];
  for (const [action, description] of actions) {
    common(
      cmd
        .command(action)
        .description(description)
        .argument('<id>', 'the rollout')
        .option('--reason <text>', 'why, recorded in the history'),
    ).action(async (id: string, o: Common & { reason?: string }) => {
      const { client, conn } = connect(o, deps);
      const r = await call(conn, () => client.rolloutAction(id, action, o.reason));
      if (o.json) io.out(json(r));
      else io.out(`rollout ${r.id}: ${r.state}/${r.phase}, ${stepOf(r)}`);
      setExit(EXIT_OK);
    });
  }

  common(
    cmd
      .command('history')
      .description("a rollout's event timeline; without an id, the list of rollouts")
      .argument('[id]', 'the rollout')
      .option('--state <state>', 'list only rollouts in this state')
      .option('--group <name|id>', 'list only rollouts of this host group'),
  ).action(async (id: string | undefined, o: Common & { state?: string; group?: string }) => {
    const { client, conn } = connect(o, deps);
    if (id !== undefined) {
      if (o.state !== undefined || o.group !== undefined)
        throw usage(
          '--state and --group filter the list of rollouts, not one rollout',
          'drop the id to list rollouts, or drop the filters',
        );
      const h = await call(conn, () => client.rolloutHistory(id));
      io.out(o.json ? json(h) : renderHistory(h.items));
    } else {
      const groupId =
        o.group !== undefined
          ? (await call(conn, () => resolveGroup(client, o.group ?? ''))).id
          : undefined;
      const list = await call(conn, () =>
        client.listRollouts({
          ...(o.state !== undefined ? { state: o.state } : {}),
          ...(groupId !== undefined ? { groupId } : {}),
        }),
      );
      io.out(o.json ? json(list) : renderRolloutList(list.items));
    }
    setExit(EXIT_OK);
  });

  return cmd;
}
