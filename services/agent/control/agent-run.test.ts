// `oomfleet agent run --control-plane …` from the TypeScript sources (the
// CLI through tsx; the supervisor forks the worker from source): the flags
// reach the worker, which enrols, connects and acks; SIGTERM stops both.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalJson, loadPolicy } from '../../policy/index.ts';
import { startFakeControlPlane, TEST_TOKEN } from './test-server.ts';

const CLI = fileURLToPath(new URL('../../cli/run.ts', import.meta.url));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function cli(args: string[]): {
  proc: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
} {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exit = new Promise<number | null>((resolve) => {
    proc.on('exit', (code) => {
      resolve(code);
    });
  });
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await exit;
    }
  });
  return { proc, output: () => out, exit };
}

describe('agent run --control-plane (from source)', { timeout: 180_000 }, () => {
  it('enrols with the token file and labels, acks the assignment, and stops on SIGTERM', async () => {
    const cp = await startFakeControlPlane();
    cleanups.push(() => cp.kill());
    const r = loadPolicy(`apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: from-cli }
spec:
  rules:
    - name: low
      scope: global
      when: { any: [{ available: { below: 1% } }] }
      action: { notify: {} }
`);
    if (!r.canonical || !r.digest) throw new Error('bad test policy');
    cp.setDesired({
      versionId: 'ver-cli',
      policyName: 'from-cli',
      version: 1,
      digest: r.digest,
      documentJson: canonicalJson(r.canonical),
    });
    const dir = mkdtempSync(join(tmpdir(), 'oomfleet-cprun-'));
    cleanups.push(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    writeFileSync(join(dir, 'token'), `${TEST_TOKEN}\n`);
    const run = cli([
      'agent',
      'run',
      '--state-dir',
      join(dir, 'state'),
      '--socket',
      join(dir, 'agent.sock'),
      '--cgroup-mode',
      'none',
      '--control-plane',
      cp.address,
      '--enrollment-token-file',
      join(dir, 'token'),
      '--labels',
      'zone=b,tier=web',
    ]);
    await cp
      .waitFor(() => cp.got.acks.find((a) => a.versionId === 'ver-cli'), 60_000)
      .catch((err: unknown) => {
        throw new Error(`${String(err)}\n${run.output()}`);
      });
    expect(cp.got.enrolments[0]).toMatchObject({
      enrollmentToken: TEST_TOKEN,
      labels: { zone: 'b', tier: 'web' },
    });
    expect(cp.got.hellos[0]?.labels).toEqual({ zone: 'b', tier: 'web' });
    run.proc.kill('SIGTERM');
    expect(await run.exit).toBe(0);
  });

  it('refuses wrong control-plane flags as a usage error', async () => {
    const run = cli([
      'agent',
      'run',
      '--control-plane',
      'no-port',
      '--state-dir',
      '/nonexistent',
      '--socket',
      '/nonexistent/s',
    ]);
    expect(await run.exit).toBe(2);
    expect(run.output()).toMatch(/not host:port/);
    const orphan = cli([
      'agent',
      'run',
      '--labels',
      'zone=a',
      '--state-dir',
      '/nonexistent',
      '--socket',
      '/nonexistent/s',
    ]);
    expect(await orphan.exit).toBe(2);
    expect(orphan.output()).toMatch(/--labels needs --control-plane/);
  });
});
