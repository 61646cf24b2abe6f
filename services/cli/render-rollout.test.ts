// `oomfleet rollout`: rendering of the API's rollout JSON, and the parsing of
// --steps, durations, percentages and thresholds. No HTTP here.
import { describe, expect, it } from 'vitest';
import {
  parseDurationSeconds,
  parseNumberFlag,
  parsePercentFlag,
  parseSpreadBy,
  parseSteps,
  parseVersionFlag,
  startSettings,
  toCliError,
} from './commands/rollout.ts';
import {
  ControlPlaneError,
  ControlPlaneUnreachableError,
  resolveConnection,
  type HistoryEvent,
  type Rollout,
  type RolloutHost,
  type RolloutStep,
  type RolloutSummary,
  type Verdict,
} from './control-plane-client.ts';
import { CliError, EXIT_INVALID, EXIT_USAGE } from './errors.ts';
import {
  countHosts,
  finalLine,
  followLine,
  formatNumber,
  formatStepSize,
  isTerminal,
  latestVerdict,
  renderHistory,
  renderCounts,
  renderHostCounts,
  renderRollout,
  renderRolloutList,
  stepRemaining,
  summarizeDetail,
} from './render-rollout.ts';

const NOW = Date.parse('2025-06-01T12:10:00Z');
const DIGEST = `sha256:${'3f'.repeat(32)}`;

function hosts(spec: [RolloutHost['state'], number, number][]): RolloutHost[] {
  const out: RolloutHost[] = [];
  for (const [state, step, n] of spec)
    for (let i = 0; i < n; i++)
      out.push({
        hostId: `h${out.length}`,
        hostname: `web-${String(out.length).padStart(2, '0')}`,
        step,
        state,
        previousVersionId: 'ver_2',
        labels: { zone: out.length % 2 ? 'a' : 'b' },
      });
  return out;
}

const step0: RolloutStep = {
  index: 0,
  size: { hosts: 1 },
  hosts: 1,
  newHosts: 1,
  state: 'passed',
  startedAt: '2025-06-01T11:50:00Z',
  ackDeadline: '2025-06-01T11:52:00Z',
  bakeUntil: '2025-06-01T12:00:00Z',
  acked: 1,
  nacked: 0,
};
const step1: RolloutStep = {
  index: 1,
  size: { percent: 5 },
  hosts: 2,
  newHosts: 1,
  state: 'baking',
  startedAt: '2025-06-01T12:00:30Z',
  ackDeadline: '2025-06-01T12:02:30Z',
  bakeUntil: '2025-06-01T12:14:10Z',
  acked: 1,
  nacked: 0,
};
const step2: RolloutStep = {
  index: 2,
  size: { percent: 25 },
  hosts: 10,
  newHosts: 8,
  state: 'pending',
  acked: 0,
  nacked: 0,
};
const step3: RolloutStep = {
  index: 3,
  size: { percent: 100 },
  hosts: 40,
  newHosts: 30,
  state: 'pending',
  acked: 0,
  nacked: 0,
};
const verdict0: Verdict = {
  step: 0,
  verdict: 'Successful',
  at: '2025-06-01T12:00:05Z',
  by: null,
  gates: [
    {
      gate: 'nack-ratio',
      outcome: 'pass',
      numbers: { nacked: 0, hosts: 1, ratio: 0, max: 0.1 },
      reason: '0 of 1 hosts refused the version',
    },
    {
      gate: 'oom-rate',
      outcome: 'pass',
      numbers: { ratio: 0.8333333, newRate: 0.25, oldRate: 0.3 },
      reason: 'OOM kills per host-hour 0.25, was 0.3',
    },
  ],
};

/** A rollout mid-bake on step 2 of 4. */
const running: Rollout = {
  id: 'ro_01HZX',
  state: 'running',
  phase: 'baking',
  group: { id: 'grp_1', name: 'web-prod' },
  policy: { id: 'pol_1', name: 'batch-userspace-oom' },
  version: { id: 'ver_3', version: 3, digest: DIGEST },
  currentStep: 1,
  steps: [step0, step1, step2, step3],
  hosts: hosts([
    ['acked', 0, 1],
    ['acked', 1, 1],
    ['pending', 2, 8],
    ['pending', 3, 30],
  ]),
  hostCounts: { acked: 2, pending: 38 },
  verdicts: [verdict0],
  settings: {
    bakeSeconds: 600,
    ackTimeoutSeconds: 120,
    thresholds: {
      maxNackRatio: 0.1,
      maxSilentRatio: 0,
      maxRateRatio: 1.5,
      minRateExcess: 1,
      minHostHours: 0.5,
    },
    onFailure: 'rollback',
    approvalAbovePercent: 50,
    spreadBy: ['zone'],
  },
  pausedReason: null,
  createdBy: 'alice',
  createdAt: '2025-06-01T11:49:30Z',
  updatedAt: '2025-06-01T12:00:30Z',
  finishedAt: null,
};

/** Step 2 failed its OOM-rate gate and the rollout rolled back. */
const rolledBack: Rollout = {
  ...running,
  id: 'ro_02FAIL',
  state: 'rolled-back',
  phase: 'done',
  steps: [
    { ...step0, state: 'passed' },
    { ...step1, state: 'failed', acked: 1, nacked: 0 },
    { ...step2, state: 'skipped' },
    { ...step3, state: 'skipped' },
  ],
  hosts: hosts([
    ['rolled-back', 0, 1],
    ['rolled-back', 1, 1],
    ['pending', 2, 38],
  ]),
  verdicts: [
    verdict0,
    {
      step: 1,
      verdict: 'Failed',
      at: '2025-06-01T12:14:12Z',
      by: null,
      gates: [
        {
          gate: 'nack-ratio',
          outcome: 'pass',
          numbers: { nacked: 0, hosts: 2, ratio: 0 },
          reason: '0 of 2 hosts refused the version',
        },
        {
          gate: 'oom-rate',
          outcome: 'fail',
          numbers: { ratio: 3.2142857, newRate: 0.45, oldRate: 0.14, excess: 0.31 },
          reason: 'OOM kills per host-hour 0.45, 3.2x the previous 0.14 (max 1.5x)',
        },
      ],
    },
  ],
  finishedAt: '2025-06-01T12:15:00Z',
  updatedAt: '2025-06-01T12:15:00Z',
};

/** Too little data to judge step 1; onFailure pause stopped it. */
const pausedInconclusive: Rollout = {
  ...running,
  id: 'ro_03WAIT',
  state: 'paused',
  phase: 'baking',
  currentStep: 0,
  steps: [
    { ...step0, state: 'inconclusive' },
    { ...step1, state: 'pending', acked: 0, nacked: 0 },
  ],
  hosts: hosts([
    ['acked', 0, 1],
    ['nacked', 0, 2],
    ['pending', 1, 1],
  ]),
  verdicts: [
    {
      step: 0,
      verdict: 'Inconclusive',
      at: '2025-06-01T12:00:05Z',
      by: null,
      gates: [
        {
          gate: 'host-hours',
          outcome: 'no-data',
          numbers: { hostHours: 0.17, min: 1 },
          reason: 'only 0.17 host-hours observed, need 1',
        },
      ],
    },
  ],
  settings: { ...running.settings, onFailure: 'pause', approvalAbovePercent: null, spreadBy: [] },
  pausedReason: 'step 1 inconclusive: not enough data',
};

describe('rollout status rendering', () => {
  it('shows a running rollout mid-bake: summary, steps with bake remaining, last verdict, hosts', () => {
    const text = renderRollout(running, NOW);
    expect(text).toMatch(/^group\s+web-prod \(grp_1\)$/m);
    expect(text).toMatch(/policy\s+batch-userspace-oom v3 sha256:3f3f3f3f3f3f…/);
    expect(text).toMatch(/state\s+running \/ baking, step 2 of 4/);
    expect(text).toMatch(
      /settings\s+bake 10m, ack timeout 2m, on failure rollback, approval above 50%, spread by zone/,
    );
    expect(text).toMatch(
      /thresholds\s+maxNackRatio=0\.1 maxSilentRatio=0 maxRateRatio=1\.5 minRateExcess=1 minHostHours=0\.5/,
    );
    expect(text).toMatch(/created\s+2025-06-01T11:49:30Z by alice \(20m30s ago\)/);
    // The steps table: the current step marked, bake remaining 4m10s.
    expect(text).toContain('STEP  SIZE    HOSTS  NEW  ACKED  NACKED  STATE    REMAINING');
    expect(text).toContain(' 1    1 host  1      1    1      0       passed   -');
    expect(text).toContain('>2    5%      2      1    1      0       baking   bake 4m10s');
    expect(text).toContain(' 4    100%    40     30   0      0       pending  -');
    expect(text).toContain(
      'verdict for step 1: Successful at 2025-06-01T12:00:05Z by the controller',
    );
    expect(text).toMatch(/oom-rate\s+pass\s+ratio=0\.8333 newRate=0\.25 oldRate=0\.3\s+OOM kills/);
    expect(text).toContain('hosts: 40 total: 38 pending, 2 acked');
    expect(text).not.toContain('\x1b[');
  });

  it('shows a failed, rolled-back rollout with the failing gate and its numbers', () => {
    const text = renderRollout(rolledBack, NOW + 10 * 60_000);
    expect(text).toMatch(/state\s+rolled-back \/ done, step 2 of 4/);
    expect(text).toMatch(/finished\s+2025-06-01T12:15:00Z \(5m ago\)/);
    // Terminal: no step is marked current.
    expect(text).toContain(' 2    5%      2      1    1      0       failed   -');
    expect(text).toContain('verdict for step 2: Failed at 2025-06-01T12:14:12Z by the controller');
    expect(text).toMatch(
      /oom-rate\s+fail\s+ratio=3\.214 newRate=0\.45 oldRate=0\.14 excess=0\.31\s+OOM kills per host-hour 0\.45, 3\.2x the previous 0\.14 \(max 1\.5x\)/,
    );
    expect(text).toContain('hosts: 40 total: 38 pending, 2 rolled-back');
    expect(finalLine(rolledBack)).toBe(
      'rollout ro_02FAIL rolled-back after verdict Failed on step 2 (oom-rate: OOM kills per host-hour 0.45, 3.2x the previous 0.14 (max 1.5x))',
    );
  });

  it('shows an inconclusive paused rollout with its reason, the no-data gate, nacked hosts and what to do', () => {
    const text = renderRollout(pausedInconclusive, NOW);
    expect(text).toMatch(/state\s+paused \/ baking, step 1 of 2/);
    expect(text).toMatch(/paused because\s+step 1 inconclusive: not enough data/);
    expect(text).toMatch(/settings\s+bake 10m, ack timeout 2m, on failure pause$/m);
    expect(text).toContain('>1    1 host  1      1    1      0       inconclusive  -');
    expect(text).toContain('verdict for step 1: Inconclusive');
    expect(text).toMatch(/host-hours\s+no-data\s+hostHours=0\.17 min=1\s+only 0\.17 host-hours/);
    expect(text).toContain('hosts: 4 total: 1 pending, 1 acked, 2 nacked');
    expect(text).toContain('nacked: web-01, web-02');
    expect(text).toContain('paused: oomfleet rollout resume ro_03WAIT (or promote, or abort)');
  });

  it('colours only when asked', () => {
    expect(renderRollout(rolledBack, NOW, { color: true })).toContain('\x1b[');
  });
});

describe('rollout rendering helpers', () => {
  it('formats step sizes', () => {
    expect(formatStepSize({ hosts: 1 })).toBe('1 host');
    expect(formatStepSize({ hosts: 12 })).toBe('12 hosts');
    expect(formatStepSize({ percent: 12.5 })).toBe('12.5%');
  });

  it('counts down the bake and the ack deadline, never below zero', () => {
    const baking = step1;
    expect(stepRemaining(baking, NOW)).toBe('bake 4m10s');
    expect(stepRemaining(baking, NOW + 249_500)).toBe('bake 1s');
    expect(stepRemaining(baking, NOW + 600_000)).toBe('bake done');
    const waiting = { ...baking, state: 'waiting-acks' as const };
    expect(stepRemaining(waiting, Date.parse('2025-06-01T12:01:30Z'))).toBe('acks 1m');
    expect(stepRemaining(waiting, NOW)).toBe('acks overdue');
    expect(stepRemaining(step2, NOW)).toBe('-');
  });

  it('picks the latest verdict by time', () => {
    expect(latestVerdict(rolledBack)?.verdict).toBe('Failed');
    expect(
      latestVerdict({ ...rolledBack, verdicts: [...rolledBack.verdicts].reverse() })?.verdict,
    ).toBe('Failed');
    expect(latestVerdict({ ...running, verdicts: [] })).toBeUndefined();
  });

  it('knows the terminal states', () => {
    expect(isTerminal('succeeded')).toBe(true);
    expect(isTerminal('rolled-back')).toBe(true);
    expect(isTerminal('rolling-back')).toBe(false);
    expect(isTerminal('paused')).toBe(false);
  });

  it('formats gate numbers to 4 significant digits, integers as they are', () => {
    expect(formatNumber(3)).toBe('3');
    expect(formatNumber(0.0234567)).toBe('0.02346');
    expect(formatNumber(1234.5678)).toBe('1235');
  });

  it("falls back to the server's host counts when hosts are not sent", () => {
    expect(renderCounts({ acked: 3, pending: 5, nacked: 0, silent: 1 })).toBe(
      'hosts: 9 total: 5 pending, 3 acked, 1 silent',
    );
    expect(
      renderRollout({ ...summary(running), hostCounts: { acked: 2, pending: 38 } }, NOW),
    ).toContain('hosts: 40 total: 38 pending, 2 acked');
  });

  it("shows a person's verdict with its reason", () => {
    expect(
      renderRollout(
        {
          ...pausedInconclusive,
          state: 'running',
          verdicts: [
            ...pausedInconclusive.verdicts,
            {
              step: 0,
              verdict: 'Promoted',
              at: '2025-06-01T12:05:00Z',
              by: 'bob',
              gates: [],
              reason: 'canary looks fine',
            },
          ],
        },
        NOW,
      ),
    ).toContain('verdict for step 1: Promoted at 2025-06-01T12:05:00Z by bob: canary looks fine');
  });

  it('counts hosts by state and shortens long nacked lists', () => {
    expect(countHosts(running.hosts ?? [])).toMatchObject({ acked: 2, pending: 38, nacked: 0 });
    const many = hosts([['nacked', 0, 7]]);
    expect(renderHostCounts(many, 3)).toBe(
      'hosts: 7 total: 7 nacked\nnacked: web-00, web-01, web-02, … (4 more)',
    );
    expect(renderHostCounts([])).toBe('hosts: 0 total');
  });
});

describe('rollout --follow lines', () => {
  it('holds no countdown, so it changes only when the rollout does', () => {
    const line = followLine(running);
    expect(line).toBe(
      'running/baking  step 2 of 4  5% → 2 hosts (1 acked, 0 nacked) baking  bake until 2025-06-01T12:14:10Z  verdict step 1 Successful',
    );
    expect(followLine({ ...running, updatedAt: '2025-06-01T12:09:00Z' })).toBe(line);
    const acked = {
      ...running,
      steps: running.steps.map((s) => (s.index === 1 ? { ...s, acked: 2 } : s)),
    };
    expect(followLine(acked)).not.toBe(line);
  });

  it('says why a rollout failed or paused', () => {
    expect(followLine(rolledBack)).toContain(
      'verdict step 2 Failed (oom-rate: OOM kills per host-hour 0.45',
    );
    expect(followLine(pausedInconclusive)).toContain(
      'verdict step 1 Inconclusive (host-hours: only 0.17 host-hours observed, need 1)  paused: step 1 inconclusive',
    );
  });

  it('ends with success or the reason for the rollback', () => {
    const ok: Rollout = {
      ...running,
      state: 'succeeded',
      phase: 'done',
      currentStep: 3,
    };
    expect(finalLine(ok)).toBe(
      'rollout ro_01HZX succeeded: batch-userspace-oom v3 is on group web-prod',
    );
    const aborted: Rollout = {
      ...rolledBack,
      verdicts: [
        ...rolledBack.verdicts,
        { step: 1, verdict: 'Aborted', at: '2025-06-01T12:20:00Z', by: 'bob', gates: [] },
      ],
    };
    expect(finalLine(aborted)).toBe(
      'rollout ro_02FAIL rolled-back after verdict Aborted on step 2 by bob',
    );
  });
});

describe('rollout list and history', () => {
  it('lists rollouts', () => {
    expect(renderRolloutList([summary(running), summary(rolledBack)])).toBe(
      [
        'ID         GROUP     POLICY                  STATE        STEP  CREATED               BY',
        'ro_01HZX   web-prod  batch-userspace-oom v3  running      2/4   2025-06-01T11:49:30Z  alice',
        'ro_02FAIL  web-prod  batch-userspace-oom v3  rolled-back  2/4   2025-06-01T11:49:30Z  alice',
      ].join('\n'),
    );
    expect(renderRolloutList([])).toBe('no rollouts');
  });

  it('shows the timeline with a summary of each detail', () => {
    const events: HistoryEvent[] = [
      {
        at: '2025-06-01T11:49:30.123Z',
        actor: 'alice',
        action: 'rollout.start',
        detail: { steps: 4, version: 3 },
      },
      {
        at: '2025-06-01T12:14:12Z',
        actor: 'controller',
        action: 'step.verdict',
        detail: { step: 1, verdict: 'Failed', gates: ['oom-rate'] },
      },
      { at: '2025-06-01T12:16:00Z', actor: 'bob', action: 'rollout.pause', detail: {} },
    ];
    expect(renderHistory(events)).toBe(
      [
        'AT                    ACTOR       ACTION         DETAIL',
        '2025-06-01T11:49:30Z  alice       rollout.start  steps=4 version=3',
        '2025-06-01T12:14:12Z  controller  step.verdict   step=1 verdict=Failed gates=["oom-rate"]',
        '2025-06-01T12:16:00Z  bob         rollout.pause  -',
      ].join('\n'),
    );
  });

  it('summarizes gate lists in a detail as gate:outcome', () => {
    expect(summarizeDetail({ gates: rolledBack.verdicts[1]?.gates })).toBe(
      'gates=nack-ratio:pass,oom-rate:fail',
    );
    expect(summarizeDetail(null)).toBe('-');
  });

  it('quotes strings with spaces, drops nulls and shortens long details', () => {
    expect(summarizeDetail({ reason: 'too many OOMs', by: null })).toBe('reason="too many OOMs"');
    const long = summarizeDetail({ note: 'x'.repeat(300) }, 20);
    expect(long).toHaveLength(20);
    expect(long.endsWith('…')).toBe(true);
  });
});

function summary(r: Rollout): RolloutSummary {
  const copy: Rollout = { ...r };
  delete copy.hosts;
  return copy;
}

function usageError(fn: () => unknown): CliError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(EXIT_USAGE);
    return e as CliError;
  }
  throw new Error('expected a usage error');
}

describe('rollout argument parsing', () => {
  it('parses cumulative steps of host counts and percentages', () => {
    expect(parseSteps('1,5%,25%,100%')).toEqual([
      { hosts: 1 },
      { percent: 5 },
      { percent: 25 },
      { percent: 100 },
    ]);
    expect(parseSteps(' 1, 10 ,2.5%')).toEqual([{ hosts: 1 }, { hosts: 10 }, { percent: 2.5 }]);
  });

  it('rejects bad steps, naming the flag, the step and the fix', () => {
    const e = usageError(() => parseSteps('1,5%,3%'));
    expect(e.message).toBe('--steps step 3 ("3%") is not larger than the step before it (5%)');
    expect(e.hint).toMatch(/cumulative/);
    expect(usageError(() => parseSteps('0')).message).toMatch(/step 1 \("0"\) has no hosts/);
    expect(usageError(() => parseSteps('150%')).message).toMatch(/out of range/);
    expect(usageError(() => parseSteps('1,,5%')).message).toMatch(/step 2 \(""\) is empty/);
    expect(usageError(() => parseSteps('five')).hint).toContain('--steps "1,5%,25%,100%"');
    expect(usageError(() => parseSteps('')).message).toBe('--steps is empty');
  });

  it('parses durations with the policy language parser, as whole seconds', () => {
    expect(parseDurationSeconds('10m', '--bake')).toBe(600);
    expect(parseDurationSeconds('1m30s', '--bake')).toBe(90);
    expect(parseDurationSeconds('0s', '--bake')).toBe(0);
    const bad = usageError(() => parseDurationSeconds('10 minutes', '--bake'));
    expect(bad.message).toBe('--bake 10 minutes: "10 minutes" is not a duration');
    expect(bad.hint).toMatch(/500ms, 10s, 1m30s/);
    expect(usageError(() => parseDurationSeconds('1500ms', '--bake')).message).toMatch(
      /not a whole number of seconds/,
    );
    expect(usageError(() => parseDurationSeconds('0s', '--ack-timeout', { min: 1 })).message).toBe(
      '--ack-timeout 0s is too short',
    );
  });

  it('parses percentages, ratios and numbers', () => {
    expect(parsePercentFlag('50%', '--approval-above')).toBe(50);
    expect(parsePercentFlag('50', '--approval-above')).toBe(50);
    expect(usageError(() => parsePercentFlag('150%', '--approval-above')).hint).toContain(
      '--approval-above 50%',
    );
    expect(parseNumberFlag('0.05', '--max-nack-ratio', { fraction: true })).toBe(0.05);
    expect(parseNumberFlag('5%', '--max-nack-ratio', { fraction: true })).toBe(0.05);
    expect(
      usageError(() => parseNumberFlag('2', '--max-nack-ratio', { fraction: true })).message,
    ).toBe('--max-nack-ratio 2 is more than 1');
    expect(parseNumberFlag('2.5', '--max-rate-ratio', { min: 1 })).toBe(2.5);
    expect(usageError(() => parseNumberFlag('0.5', '--max-rate-ratio', { min: 1 })).message).toBe(
      '--max-rate-ratio 0.5 is less than 1',
    );
    expect(usageError(() => parseNumberFlag('-1', '--min-host-hours')).message).toBe(
      '--min-host-hours -1 is not a number',
    );
  });

  it('parses --spread-by and --policy-version', () => {
    expect(parseSpreadBy('zone, kernel,zone')).toEqual(['zone', 'kernel']);
    expect(usageError(() => parseSpreadBy('zone,,kernel')).message).toMatch(
      /"" is not a label key/,
    );
    expect(parseVersionFlag('3')).toBe(3);
    expect(parseVersionFlag('v3')).toBe(3);
    expect(usageError(() => parseVersionFlag('0')).message).toMatch(/not a version number/);
  });

  it('builds the optional part of the start body, leaving unset flags to the server', () => {
    expect(startSettings({})).toEqual({});
    expect(
      startSettings({
        steps: '1,5%,100%',
        bake: '10m',
        ackTimeout: '2m',
        onFailure: 'pause',
        approvalAbove: '50%',
        spreadBy: 'zone',
        maxNackRatio: '0.1',
        minHostHours: '4',
      }),
    ).toEqual({
      steps: [{ hosts: 1 }, { percent: 5 }, { percent: 100 }],
      bakeSeconds: 600,
      ackTimeoutSeconds: 120,
      onFailure: 'pause',
      approvalAbovePercent: 50,
      spreadBy: ['zone'],
      thresholds: { maxNackRatio: 0.1, minHostHours: 4 },
    });
    expect(usageError(() => startSettings({ onFailure: 'retry' })).message).toBe(
      '--on-failure retry is not rollback or pause',
    );
  });
});

describe('rollout connection and errors', () => {
  it('takes flags over the environment over the default', () => {
    expect(resolveConnection({}, {})).toEqual({
      server: 'http://127.0.0.1:8080',
      token: undefined,
      serverSource: 'default',
    });
    expect(
      resolveConnection({}, { OOMFLEET_SERVER: 'http://cp:8080/', OOMFLEET_TOKEN: 'tok' }),
    ).toEqual({ server: 'http://cp:8080', token: 'tok', serverSource: 'OOMFLEET_SERVER' });
    expect(
      resolveConnection(
        { server: 'http://other:1', token: 'x' },
        { OOMFLEET_SERVER: 'http://cp:8080', OOMFLEET_TOKEN: 'tok' },
      ),
    ).toEqual({ server: 'http://other:1', token: 'x', serverSource: '--server' });
  });

  it('names the URL and OOMFLEET_SERVER when the server is unreachable', () => {
    const conn = resolveConnection({}, {});
    const e = toCliError(
      new ControlPlaneUnreachableError(conn.server, 'connection refused'),
      conn,
    ) as CliError;
    expect(e.exitCode).toBe(EXIT_INVALID);
    expect(e.message).toBe(
      'cannot reach the control plane at http://127.0.0.1:8080: connection refused',
    );
    expect(e.hint).toContain('OOMFLEET_SERVER');
  });

  it("shows a problem's detail and hint, and its items", () => {
    const conn = resolveConnection({}, {});
    const e = toCliError(
      new ControlPlaneError(
        400,
        {
          title: 'The request does not match its schema',
          status: 400,
          code: 'validation-failed',
          detail: 'the body is invalid',
          hint: 'see docs/api.md',
          errors: [{ path: 'body/steps/0', message: 'must be an object' }],
        },
        'http://127.0.0.1:8080/api/v1/rollouts',
      ),
      conn,
    ) as CliError;
    expect(e.exitCode).toBe(EXIT_INVALID);
    expect(e.message).toBe('the body is invalid\n    body/steps/0: must be an object');
    expect(e.hint).toBe('see docs/api.md');
    const unauth = toCliError(
      new ControlPlaneError(401, { code: 'unauthorized', detail: 'send Authorization' }, 'u'),
      conn,
    ) as CliError;
    expect(unauth.hint).toMatch(/--token T or set OOMFLEET_TOKEN/);
  });
});
