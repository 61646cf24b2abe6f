// bench:agent — what the agent costs on a host with 500 memcgs in scope, on
// REAL cgroup v1 memcgs beneath this process's own memory cgroup: /fleet/job-000
// … /fleet/job-499 below the agent's cgroup root, each with one small process
// (`sleep`), and a policy whose rule and settings cover /fleet/* (usage of the
// limit above 95% → kill the largest; memoryMax 1Gi) at a 1 s interval.
//
// Once the agent has applied the limits to every memcg and warmed up, for the
// window (60 s by default): the RSS of the worker and of the supervisor
// (/proc/PID/status VmRSS) every second, their CPU time (/proc/PID/stat
// utime+stime) at the start and the end, CPU% = CPU time / wall time; and the
// cost of one evaluation tick, lastEvaluation.durationMs from the agent's
// status endpoint every STATUS_EVERY seconds, as a median. That duration
// covers snapshot + evaluate + act; the tick's reconcile of settings comes
// after it, so the CPU time per evaluation is reported as well.
//
// The sleepers use far less than 95% of any limit, and so does /fleet as a
// whole: the agent reads /fleet's usage and leaves the 500 beneath it unread
// (services/agent/snapshot/prune.ts). `--threshold 1` (1% of the limit,
// below what /fleet holds) measures the other case, every memcg read every
// tick: memcgsReadPerTickMedian in the JSON tells which one ran.
//
// Usage: npm run bench:agent [-- --seconds N] [-- --cgroups N] [-- --threshold PERCENT]
// Progress on stderr; the JSON as the last line on stdout.
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTestMemcg, waitFor } from '../helpers/memcg.ts';
import { intFlag, log, median, onCleanup, readNum, round, runBench, startAgent } from './lib.ts';

const GIB = 1024 * 1024 * 1024;
/** Seconds between two questions to the agent's status endpoint. */
const STATUS_EVERY = 5;

const policy = (thresholdPercent: number): string => `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: bench-fleet }
spec:
  interval: 1s
  cgroups:
    - match: /fleet/*
      memoryMax: 1Gi
  rules:
    - name: fleet-pre-oom
      scope: /fleet/*
      when: { usage: { of: limit, above: ${thresholdPercent}% } }
      action: { kill: { victim: largest } }
`;

const CLK_TCK = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised comm (which may hold spaces): state is field 3.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return ((utime + stime) * 1000) / CLK_TCK;
}

/** VmRSS of a process, in MB (MiB). */
function rssMB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** One `sleep` per memcg, moved in before it execs, so nothing of it is charged elsewhere. */
function startSleeper(dir: string): Promise<number> {
  const p = spawn('sh', ['-c', `echo $$ > "$1/cgroup.procs" && exec sleep 600`, 'sh', dir], {
    stdio: 'ignore',
  });
  return new Promise((resolve, reject) => {
    p.once('error', reject);
    p.once('spawn', () => {
      resolve(p.pid ?? -1);
    });
  });
}

await runBench(async () => {
  const seconds = intFlag('seconds', 60);
  const count = intFlag('cgroups', 500);
  const threshold = intFlag('threshold', 95);

  const top = makeTestMemcg('bench-agent');
  const fleet = join(top.dir, 'fleet');
  mkdirSync(fleet);
  const jobs: string[] = [];
  const sleepers: number[] = [];
  onCleanup(() => {
    for (const pid of sleepers)
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
  });
  for (let i = 0; i < count; i++) {
    const dir = join(fleet, `job-${String(i).padStart(3, '0')}`);
    mkdirSync(dir);
    jobs.push(dir);
    sleepers.push(await startSleeper(dir));
  }
  await waitFor(
    () => jobs.every((d) => readFileSync(join(d, 'cgroup.procs'), 'utf8').trim() !== ''),
    'every sleeper in its memcg',
    30_000,
  );
  log(`bench: ${count} memcgs with one process each below ${fleet}`);

  const agent = await startAgent(top.dir, policy(threshold));
  await waitFor(
    () => jobs.every((d) => readNum(d, 'memory.limit_in_bytes') === GIB),
    'the agent to apply memoryMax to every memcg',
    60_000,
    200,
  );
  const first = await agent.client.status();
  const worker = first.pid;
  const supervisor = agent.proc.pid ?? -1;
  if (first.supervisorPid !== undefined && first.supervisorPid !== supervisor)
    throw new Error(`supervisor pid ${first.supervisorPid}, expected ${supervisor}`);
  const warmup = Math.min(5, Math.max(2, Math.round(seconds / 10)));
  log(`bench: agent applied (worker ${worker}, supervisor ${supervisor}); warming up ${warmup} s`);
  await sleep(warmup * 1000);

  const workerRss: number[] = [];
  const supervisorRss: number[] = [];
  const ticks = new Map<number, number>();
  const memcgsRead: number[] = [];
  const start = {
    at: performance.now(),
    worker: cpuMs(worker),
    supervisor: cpuMs(supervisor),
    evaluations: (await agent.client.status()).counters.evaluations,
  };
  let evaluations = start.evaluations;
  let errors = 0;
  for (let s = 1; s <= seconds; s++) {
    // Sample on the second, measured from the start, so the window is `seconds` long.
    await sleep(Math.max(0, start.at + s * 1000 - performance.now()));
    workerRss.push(rssMB(worker));
    supervisorRss.push(rssMB(supervisor));
    // The status endpoint is asked every STATUS_EVERY s: answering it is not
    // the agent's steady work (people ask it now and then), and at once a
    // second it was a tenth of what the window measured.
    if (s % STATUS_EVERY !== 0 && s !== seconds) continue;
    const st = await agent.client.status();
    if (st.pid !== worker) throw new Error(`the worker was restarted (pid ${st.pid})`);
    if (st.lastEvaluation) ticks.set(st.lastEvaluation.time, st.lastEvaluation.durationMs);
    if (st.lastEvaluation?.memcgs) memcgsRead.push(st.lastEvaluation.memcgs.read);
    evaluations = st.counters.evaluations;
    errors = st.counters.errors;
    if (s % 10 === 0 || s === seconds)
      log(
        `bench: ${s} s: worker RSS ${round(workerRss.at(-1) ?? 0)} MB, ` +
          `heap ${round((st.memory?.heapUsedBytes ?? NaN) / 2 ** 20)}/${round((st.memory?.heapTotalBytes ?? NaN) / 2 ** 20)} MB, ` +
          `tick ${round(st.lastEvaluation?.durationMs ?? NaN, 2)} ms, ${st.counters.evaluations} evaluations, ` +
          `${st.lastEvaluation?.memcgs?.read ?? '?'} memcgs read, ${st.lastEvaluation?.memcgs?.skipped ?? '?'} left unread`,
      );
  }
  const wallMs = performance.now() - start.at;
  const workerCpu = cpuMs(worker) - start.worker;
  const supervisorCpu = cpuMs(supervisor) - start.supervisor;
  const evaluated = evaluations - start.evaluations;
  const tickMs = [...ticks.values()];

  const summary = {
    cgroups: count,
    thresholdPercent: threshold,
    seconds: round(wallMs / 1000, 1),
    rssMB: round(Math.max(...workerRss)),
    rssMBMedian: round(median(workerRss)),
    supervisorRssMB: round(Math.max(...supervisorRss)),
    cpuPercent: round((100 * workerCpu) / wallMs, 2),
    supervisorCpuPercent: round((100 * supervisorCpu) / wallMs, 2),
    tickMsMedian: round(median(tickMs), 2),
    tickMsMax: round(Math.max(...tickMs), 2),
    memcgsReadPerTickMedian: memcgsRead.length > 0 ? median(memcgsRead) : null,
    evaluations: evaluated,
    cpuMsPerEvaluation: evaluated > 0 ? round(workerCpu / evaluated, 1) : null,
    agentErrors: errors,
    goal: {
      rssMBAtMost: 60,
      cpuPercentAtMost: 1,
      met: Math.max(...workerRss) <= 60 && (100 * workerCpu) / wallMs <= 1,
    },
  };
  console.log(JSON.stringify(summary));
});
