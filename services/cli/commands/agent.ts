// `oomfleet agent …`: what the agent on this machine is doing and why, read
// from its local endpoint (a root-only Unix socket).
import { Command, Option } from 'commander';
import { formatDuration, formatIssue } from '../../policy/index.ts';
import {
  agentClient,
  AgentUnreachableError,
  type AgentClient,
} from '../../agent/endpoint/client.ts';
import { DEFAULT_SOCKET } from '../../agent/endpoint/server.ts';
import type { AgentStatus, EventRecord } from '../../agent/endpoint/api.ts';
import { CliError, EXIT_INVALID, EXIT_OK } from '../errors.ts';
import { json, paint, table, type Io } from '../output.ts';
import { readInput } from '../read-input.ts';
import { renderEvaluation } from '../render-evaluation.ts';
import { addRunCommand } from './agent-run.ts';

interface Common {
  socket: string;
  json?: boolean;
}

function ago(now: number, t: number | undefined): string {
  return t === undefined
    ? '-'
    : `${formatDuration(Math.max(0, Math.round((now - t) / 1000) * 1000))} ago`;
}

/** How much of the tree the last tick read, and why the rest could wait. */
function memcgsLine(m: { read: number; skipped: number }): string {
  return m.skipped === 0
    ? String(m.read)
    : `${m.read}; ${m.skipped} more left unread: their parent's usage is below every threshold beneath it`;
}

function controlPlaneLine(io: Io, c: AgentStatus['controlPlane'], now: number): string {
  const state =
    c.state === 'connected'
      ? paint(io, 'green', c.state)
      : c.state === 'disconnected'
        ? paint(io, 'yellow', c.state)
        : c.state;
  return `${state}${c.address ? ` ${c.address}` : ''}${c.since ? ` since ${ago(now, c.since)}` : ''}`;
}

export function renderStatus(io: Io, s: AgentStatus, now = Date.now()): void {
  const rows: [string, string][] = [
    [
      'agent',
      `pid ${s.pid}${s.supervisorPid ? ` (supervisor ${s.supervisorPid})` : ''}, version ${s.version}, up ${ago(now, s.startedAt).replace(' ago', '')}`,
    ],
    ['host', s.hostname],
    ['cgroup', `${s.cgroup.mode}${s.cgroup.root ? ` at ${s.cgroup.root}` : ''}`],
    [
      'policy',
      s.policy
        ? `${s.policy.name}${s.policy.version !== undefined ? ` v${s.policy.version}` : ''} ${s.policy.digest.slice(0, 19)}… (${s.policy.source}, applied ${ago(now, s.policy.appliedAt)}, every ${formatDuration(s.policy.intervalMs)})`
        : paint(io, 'yellow', 'none'),
    ],
    [
      'last evaluation',
      s.lastEvaluation
        ? `${ago(now, s.lastEvaluation.time)}, took ${s.lastEvaluation.durationMs.toFixed(1)} ms, next in ≤ ${formatDuration(s.lastEvaluation.intervalMs)}`
        : '-',
    ],
    ...(s.lastEvaluation?.memcgs
      ? [['memcgs read', memcgsLine(s.lastEvaluation.memcgs)] as [string, string]]
      : []),
    ['kills', String(s.counters.kills)],
    ['fallbacks', String(s.counters.fallbacks)],
    ['errors', String(s.counters.errors)],
    ['control plane', controlPlaneLine(io, s.controlPlane, now)],
  ];
  if (s.controlPlane.hostId) rows.push(['host id', s.controlPlane.hostId]);
  if (s.controlPlane.lastError && s.controlPlane.state !== 'connected')
    rows.push(['last error', paint(io, 'yellow', s.controlPlane.lastError)]);
  if (s.lastRefusal)
    rows.push([
      'last refused',
      `${s.lastRefusal.digest.slice(0, 19)}… ${ago(now, s.lastRefusal.at)}: ${s.lastRefusal.reason}`,
    ]);
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) io.out(`${k.padEnd(width)}  ${v}`);
  if (s.cgroup.unsupported.length > 0) {
    io.out('');
    io.out(`settings ${s.cgroup.mode} cannot express:`);
    for (const u of s.cgroup.unsupported) io.out(`  ${u.setting}: ${u.note}`);
  }
  if (s.lastEvaluation && s.lastEvaluation.rules.length > 0) {
    io.out('');
    io.out(
      table(
        ['RULE', 'OUTCOME', 'REASON'],
        s.lastEvaluation.rules.map((r) => [r.rule, r.outcome, r.reason]),
      ),
    );
  }
}

function eventLine(e: EventRecord): string {
  const rest = Object.entries(e)
    .filter(([k]) => !['id', 'time', 'kind', 'trace', 'selection', 'policy'].includes(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${new Date(e.time).toISOString()}  ${e.kind.padEnd(14)} ${rest}`;
}

async function withClient<T>(opts: Common, fn: (c: AgentClient) => Promise<T>): Promise<T> {
  try {
    return await fn(agentClient(opts.socket));
  } catch (err) {
    if (err instanceof AgentUnreachableError)
      throw new CliError(
        err.message,
        EXIT_INVALID,
        err.code === 'EACCES'
          ? 'the endpoint is root only: run as root'
          : 'is the agent running? start it with: oomfleet agent run',
      );
    throw err;
  }
}

export function agentCommand(io: Io, setExit: (code: number) => void): Command {
  const cmd = new Command('agent').description(
    'inspect the node agent on this machine: its policy, decisions and events',
  );
  const socketOpt = (): Option =>
    new Option('--socket <path>', 'the agent endpoint').default(DEFAULT_SOCKET);
  const jsonOpt = (): Option => new Option('--json', 'print machine-readable JSON');

  cmd
    .command('status')
    .description('policy, cgroup mode, last evaluation, kills, fallbacks, control-plane connection')
    .addOption(socketOpt())
    .addOption(jsonOpt())
    .action(async (o: Common) => {
      const s = await withClient(o, (c) => c.status());
      if (o.json) io.out(json(s));
      else renderStatus(io, s);
      setExit(EXIT_OK);
    });

  cmd
    .command('explain')
    .description(
      'per rule: which scopes match now, the trigger values, which victim would be chosen and why',
    )
    .addOption(socketOpt())
    .addOption(jsonOpt())
    .action(async (o: Common) => {
      const e = await withClient(o, (c) => c.explain());
      if ('error' in e)
        throw new CliError(
          e.message,
          EXIT_INVALID,
          'give the agent a policy: oomfleet agent run --policy FILE',
        );
      if (o.json) io.out(json(e));
      else renderEvaluation(io, e, undefined);
      setExit(EXIT_OK);
    });

  cmd
    .command('dry-run')
    .description('what another policy would do on this host now, changing nothing')
    .requiredOption('--policy <file>', 'the policy to try')
    .addOption(socketOpt())
    .addOption(jsonOpt())
    .action(async (o: Common & { policy: string }) => {
      const r = await withClient(o, (c) => c.dryRun(readInput(o.policy)));
      if (!r.ok) {
        if (o.json) io.out(json(r));
        for (const i of r.issues) io.err(formatIssue(i, o.policy));
        setExit(EXIT_INVALID);
        return;
      }
      if (o.json) io.out(json(r));
      else {
        if (r.refusal)
          io.out(paint(io, 'yellow', `this host would refuse the policy: ${r.refusal}`));
        renderEvaluation(io, r.evaluation, undefined);
      }
      setExit(r.refusal ? EXIT_INVALID : EXIT_OK);
    });

  cmd
    .command('events')
    .description('outcome events: kills, OOMs, fallbacks, throttles, policy changes')
    .option('--since <id>', 'only events after this id')
    .option('--limit <n>', 'at most this many past events', '100')
    .option('-f, --follow', 'keep printing new events')
    .addOption(socketOpt())
    .addOption(jsonOpt())
    .action(async (o: Common & { since?: string; limit: string; follow?: boolean }) => {
      const print = (e: EventRecord): void => {
        io.out(o.json ? JSON.stringify(e) : eventLine(e));
      };
      if (o.follow) {
        const abort = new AbortController();
        process.once('SIGINT', () => {
          abort.abort();
        });
        await withClient(o, (c) => c.follow({ since: o.since }, print, abort.signal));
      } else {
        const events = await withClient(o, (c) =>
          c.events({ since: o.since, limit: Number(o.limit) }),
        );
        if (o.json) io.out(json(events));
        else for (const e of events) print(e);
      }
      setExit(EXIT_OK);
    });

  addRunCommand(cmd, io, setExit);
  return cmd;
}
