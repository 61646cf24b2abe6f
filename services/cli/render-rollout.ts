// Rollouts for people: pure functions from the API's JSON (and the time now)
// to text. No I/O here, so `rollout status`, `--follow` and the tests share
// exactly the same output.
import { styleText } from 'node:util';
import { formatDuration } from '../policy/index.ts';
import type {
  GateResult,
  HistoryEvent,
  Rollout,
  RolloutHost,
  RolloutState,
  RolloutStep,
  RolloutSummary,
  StepSize,
  Verdict,
} from './control-plane-client.ts';
import { table } from './output.ts';

export interface RenderOptions {
  color?: boolean;
}

type Style = Parameters<typeof styleText>[0];

function paint(o: RenderOptions, style: Style, text: string): string {
  return o.color ? styleText(style, text, { validateStream: false }) : text;
}

export const TERMINAL_STATES: readonly RolloutState[] = ['succeeded', 'rolled-back'];

export function isTerminal(state: RolloutState): boolean {
  return TERMINAL_STATES.includes(state);
}

/** "1 host", "12 hosts", "5%". */
export function formatStepSize(size: StepSize): string {
  if ('percent' in size) return `${Number(size.percent.toFixed(6))}%`;
  return `${size.hosts} host${size.hosts === 1 ? '' : 's'}`;
}

/** Whole seconds, in the policy language's normal form: 250s → "4m10s". */
export function formatSeconds(seconds: number): string {
  return formatDuration(Math.max(0, Math.round(seconds)) * 1000);
}

/** An ISO time without milliseconds: 2025-06-01T12:00:00Z. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function formatAgo(iso: string | null | undefined, now: number): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '-';
  return `${formatSeconds(Math.max(0, Math.floor((now - t) / 1000)))} ago`;
}

/** Seconds from now until `iso`, rounded up; 0 once it has passed. */
function secondsUntil(iso: string, now: number): number {
  return Math.max(0, Math.ceil((Date.parse(iso) - now) / 1000));
}

/** Gate numbers: integers as they are, others to 4 significant digits. */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return String(n);
  return String(Number(n.toPrecision(4)));
}

export function formatNumbers(numbers: Record<string, number>): string {
  const parts = Object.entries(numbers).map(([k, v]) => `${k}=${formatNumber(v)}`);
  return parts.length === 0 ? '-' : parts.join(' ');
}

/** What is left of the step's current wait: the bake, or the ack deadline. */
export function stepRemaining(step: RolloutStep, now: number): string {
  if (step.state === 'baking' && step.bakeUntil) {
    const s = secondsUntil(step.bakeUntil, now);
    return s === 0 ? 'bake done' : `bake ${formatSeconds(s)}`;
  }
  if ((step.state === 'waiting-acks' || step.state === 'assigning') && step.ackDeadline) {
    const s = secondsUntil(step.ackDeadline, now);
    return s === 0 ? 'acks overdue' : `acks ${formatSeconds(s)}`;
  }
  return '-';
}

function stateStyle(state: RolloutState): Style {
  switch (state) {
    case 'succeeded':
      return 'green';
    case 'rolled-back':
    case 'rolling-back':
      return 'red';
    case 'paused':
    case 'awaiting-approval':
      return 'yellow';
    default:
      return 'cyan';
  }
}

/** "step 2 of 4" (1-based for people; the API counts from 0). */
export function stepOf(r: RolloutSummary): string {
  const n = r.steps.length;
  const k = Math.min(r.currentStep + 1, Math.max(n, 1));
  return `step ${k} of ${n}`;
}

/** The verdict with the latest time (the API's order is not relied on). */
export function latestVerdict(r: RolloutSummary): Verdict | undefined {
  let best: Verdict | undefined;
  for (const v of r.verdicts) if (!best || Date.parse(v.at) >= Date.parse(best.at)) best = v;
  return best;
}

function shortDigest(d: string): string {
  return d.length > 19 ? `${d.slice(0, 19)}…` : d;
}

function settingsLine(r: RolloutSummary): string {
  const s = r.settings;
  const parts = [
    `bake ${formatSeconds(s.bakeSeconds)}`,
    `ack timeout ${formatSeconds(s.ackTimeoutSeconds)}`,
    `on failure ${s.onFailure}`,
  ];
  if (s.approvalAbovePercent !== null) parts.push(`approval above ${s.approvalAbovePercent}%`);
  if (s.spreadBy.length > 0) parts.push(`spread by ${s.spreadBy.join(',')}`);
  return parts.join(', ');
}

function thresholdsLine(r: RolloutSummary): string | undefined {
  const t = r.settings.thresholds;
  const parts = Object.entries(t)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => `${k}=${formatNumber(v as number)}`);
  return parts.length === 0 ? undefined : parts.join(' ');
}

/** What the operator can do next, when the rollout waits for one. */
export function nextActionHint(r: RolloutSummary): string | undefined {
  if (r.state === 'awaiting-approval')
    return `waits for approval: oomfleet rollout approve ${r.id} (or abort)`;
  if (r.state === 'paused') return `paused: oomfleet rollout resume ${r.id} (or promote, or abort)`;
  return undefined;
}

function keyValues(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd()).join('\n');
}

export function renderSummary(r: RolloutSummary, now: number, o: RenderOptions = {}): string {
  const rows: [string, string][] = [
    ['rollout', r.id],
    ['group', `${r.group.name} (${r.group.id})`],
    ['policy', `${r.policy.name} v${r.version.version} ${shortDigest(r.version.digest)}`],
    ['state', `${paint(o, stateStyle(r.state), r.state)} / ${r.phase}, ${stepOf(r)}`],
  ];
  if (r.pausedReason) rows.push(['paused because', r.pausedReason]);
  rows.push(['settings', settingsLine(r)]);
  const th = thresholdsLine(r);
  if (th) rows.push(['thresholds', th]);
  rows.push([
    'created',
    `${formatTime(r.createdAt)} by ${r.createdBy} (${formatAgo(r.createdAt, now)})`,
  ]);
  if (r.finishedAt)
    rows.push(['finished', `${formatTime(r.finishedAt)} (${formatAgo(r.finishedAt, now)})`]);
  return keyValues(rows);
}

export function renderStepsTable(r: RolloutSummary, now: number): string {
  return table(
    ['STEP', 'SIZE', 'HOSTS', 'NEW', 'ACKED', 'NACKED', 'STATE', 'REMAINING'],
    r.steps.map((s) => [
      `${s.index === r.currentStep && !isTerminal(r.state) ? '>' : ' '}${s.index + 1}`,
      formatStepSize(s.size),
      String(s.hosts),
      String(s.newHosts),
      String(s.acked),
      String(s.nacked),
      s.state,
      stepRemaining(s, now),
    ]),
  );
}

export function renderGateTable(gates: readonly GateResult[]): string {
  return table(
    ['GATE', 'OUTCOME', 'NUMBERS', 'REASON'],
    gates.map((g) => [g.gate, g.outcome, formatNumbers(g.numbers), g.reason]),
  );
}

function verdictStyle(v: Verdict['verdict']): Style {
  switch (v) {
    case 'Successful':
    case 'Promoted':
    case 'Approved':
      return 'green';
    case 'Failed':
    case 'Aborted':
      return 'red';
    default:
      return 'yellow';
  }
}

export function renderVerdict(v: Verdict, o: RenderOptions = {}): string {
  const head = `verdict for step ${v.step + 1}: ${paint(o, verdictStyle(v.verdict), v.verdict)} at ${formatTime(v.at)} by ${v.by ?? 'the controller'}`;
  const withReason = v.reason ? `${head}: ${v.reason}` : head;
  if (v.gates.length === 0) return withReason;
  return `${withReason}\n${renderGateTable(v.gates)}`;
}

const HOST_STATES: readonly RolloutHost['state'][] = [
  'pending',
  'assigned',
  'acked',
  'nacked',
  'rolling-back',
  'rolled-back',
];

export function countHosts(hosts: readonly RolloutHost[]): Record<RolloutHost['state'], number> {
  const counts = Object.fromEntries(HOST_STATES.map((s) => [s, 0])) as Record<
    RolloutHost['state'],
    number
  >;
  for (const h of hosts) counts[h.state] = (counts[h.state] ?? 0) + 1;
  return counts;
}

/** The server's own counts, when the hosts themselves were not sent. */
export function renderCounts(counts: Record<string, number>): string {
  const known = HOST_STATES.filter((s) => (counts[s] ?? 0) > 0).map((s) => `${counts[s]} ${s}`);
  const other = Object.entries(counts)
    .filter(([k, n]) => !(HOST_STATES as readonly string[]).includes(k) && n > 0)
    .map(([k, n]) => `${n} ${k}`);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const parts = [...known, ...other];
  return `hosts: ${total} total${parts.length ? `: ${parts.join(', ')}` : ''}`;
}

/** "hosts  40 total: 12 acked, 1 nacked, 27 pending", then who nacked (a few). */
export function renderHostCounts(hosts: readonly RolloutHost[], maxNames = 5): string {
  const counts = countHosts(hosts);
  const parts = HOST_STATES.filter((s) => counts[s] > 0).map((s) => `${counts[s]} ${s}`);
  const lines = [`hosts: ${hosts.length} total${parts.length ? `: ${parts.join(', ')}` : ''}`];
  const nacked = hosts.filter((h) => h.state === 'nacked').map((h) => h.hostname);
  if (nacked.length > 0)
    lines.push(
      `nacked: ${nacked.slice(0, maxNames).join(', ')}${nacked.length > maxNames ? `, … (${nacked.length - maxNames} more)` : ''}`,
    );
  return lines.join('\n');
}

/** The whole `rollout status` view. */
export function renderRollout(r: Rollout, now: number, o: RenderOptions = {}): string {
  const blocks = [renderSummary(r, now, o), renderStepsTable(r, now)];
  const v = latestVerdict(r);
  if (v) blocks.push(renderVerdict(v, o));
  if (r.hosts) blocks.push(renderHostCounts(r.hosts));
  else if (r.hostCounts) blocks.push(renderCounts(r.hostCounts));
  const hint = nextActionHint(r);
  if (hint) blocks.push(paint(o, 'yellow', hint));
  return blocks.join('\n\n');
}

/** The failing gates of a verdict, in one phrase: "nack-ratio: 3 of 12 hosts nacked". */
function failedGates(v: Verdict): string {
  const bad = v.gates.filter((g) => g.outcome === 'fail');
  const shown = bad.length > 0 ? bad : v.gates.filter((g) => g.outcome === 'no-data');
  return shown.map((g) => `${g.gate}: ${g.reason}`).join('; ');
}

/**
 * One line for `--follow` when stdout is not a terminal. It holds no
 * countdown, so it changes only when the rollout does: print it when it
 * differs from the last one printed.
 */
export function followLine(r: RolloutSummary): string {
  const step = r.steps[r.currentStep];
  const parts = [`${r.state}/${r.phase}`, stepOf(r)];
  if (step)
    parts.push(
      `${formatStepSize(step.size)} → ${step.hosts} hosts (${step.acked} acked, ${step.nacked} nacked) ${step.state}`,
    );
  if (step?.state === 'baking' && step.bakeUntil)
    parts.push(`bake until ${formatTime(step.bakeUntil)}`);
  if ((step?.state === 'waiting-acks' || step?.state === 'assigning') && step.ackDeadline)
    parts.push(`acks due ${formatTime(step.ackDeadline)}`);
  const v = latestVerdict(r);
  if (v) {
    const why = v.verdict === 'Failed' || v.verdict === 'Inconclusive' ? failedGates(v) : '';
    parts.push(`verdict step ${v.step + 1} ${v.verdict}${why ? ` (${why})` : ''}`);
  }
  if (r.pausedReason && r.state === 'paused') parts.push(`paused: ${r.pausedReason}`);
  return parts.join('  ');
}

/** The closing line of a followed rollout. */
export function finalLine(r: RolloutSummary): string {
  if (r.state === 'succeeded')
    return `rollout ${r.id} succeeded: ${r.policy.name} v${r.version.version} is on group ${r.group.name}`;
  const v = latestVerdict(r);
  const why = v
    ? ` after verdict ${v.verdict} on step ${v.step + 1}${v.verdict === 'Failed' || v.verdict === 'Inconclusive' ? ` (${failedGates(v)})` : v.by ? ` by ${v.by}` : ''}`
    : '';
  return `rollout ${r.id} ${r.state}${why}`;
}

export function renderRolloutList(items: readonly RolloutSummary[]): string {
  if (items.length === 0) return 'no rollouts';
  return table(
    ['ID', 'GROUP', 'POLICY', 'STATE', 'STEP', 'CREATED', 'BY'],
    items.map((r) => [
      r.id,
      r.group.name,
      `${r.policy.name} v${r.version.version}`,
      r.state,
      `${Math.min(r.currentStep + 1, r.steps.length)}/${r.steps.length}`,
      formatTime(r.createdAt),
      r.createdBy,
    ]),
  );
}

/** A list of gate results as "oom-rate:fail,nack-ratio:pass". */
function gateList(v: unknown): string | undefined {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const items = v as unknown[];
  if (!items.every((g) => g !== null && typeof g === 'object' && 'gate' in g && 'outcome' in g))
    return undefined;
  return (items as { gate: unknown; outcome: unknown }[])
    .map((g) => `${String(g.gate)}:${String(g.outcome)}`)
    .join(',');
}

function detailValue(v: unknown): string {
  const gates = gateList(v);
  if (gates !== undefined) return gates;
  if (typeof v === 'string') return /\s/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (typeof v === 'number') return formatNumber(v);
  return JSON.stringify(v) ?? String(v);
}

/** An event's detail object as "k=v k=v", shortened to `max` characters. */
export function summarizeDetail(detail: unknown, max = 100): string {
  if (detail === null || detail === undefined) return '-';
  if (typeof detail !== 'object') return detailValue(detail);
  const text = Object.entries(detail)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${detailValue(v)}`)
    .join(' ');
  if (text === '') return '-';
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function renderHistory(events: readonly HistoryEvent[]): string {
  if (events.length === 0) return 'no events';
  return table(
    ['AT', 'ACTOR', 'ACTION', 'DETAIL'],
    events.map((e) => [formatTime(e.at), e.actor, e.action, summarizeDetail(e.detail)]),
  );
}
