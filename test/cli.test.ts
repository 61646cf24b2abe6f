// The oomfleet command through the real binary (bin/oomfleet.js), as a user
// or a script runs it: output, --json, and the exit-code contract.
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin/oomfleet.js');
const snapshot = join(root, 'examples/snapshots/batch-host.json');
const examples = readdirSync(join(root, 'examples/policies'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => join(root, 'examples/policies', f));
const invalidDir = join(root, 'test/fixtures/invalid');
const invalid = readdirSync(invalidDir)
  .filter((f) => /\.(ya?ml|json)$/.test(f))
  .map((f) => join(invalidDir, f));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function oomfleet(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { cwd: root, env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'oomfleet-cli-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const policyYaml = `apiVersion: oomfleet/v1
kind: OomPolicy
metadata: { name: cli-test }
spec:
  rules:
    # kills in /batch when a job nears its limit
    - name: batch-usage
      scope: /batch/*
      when: { usage: { above: 80% } }
      action: { kill: { victim: largest } }
`;

describe('oomfleet --help and usage errors', () => {
  const commands = [
    [],
    ['policy'],
    ...['validate', 'fmt', 'digest', 'diff', 'explain', 'schema', 'import'].map((c) => [
      'policy',
      c,
    ]),
  ];
  for (const c of commands) {
    it(`${['oomfleet', ...c].join(' ')} --help exits 0 and prints usage`, async () => {
      const r = await oomfleet([...c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Usage: oomfleet');
    });
  }

  it('an unknown flag exits 2', async () => {
    const r = await oomfleet(['policy', 'validate', '--bogus', examples[0] ?? '']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--bogus'/);
  });

  it('a missing argument exits 2', async () => {
    expect((await oomfleet(['policy', 'diff', 'a.yaml'])).code).toBe(2);
    expect((await oomfleet(['policy', 'explain', examples[0] ?? ''])).code).toBe(2); // no --snapshot
  });

  it('an unknown command exits 2', async () => {
    expect((await oomfleet(['polcy'])).code).toBe(2);
  });

  it('import without --from, or with an unknown tool, exits 2', async () => {
    expect((await oomfleet(['policy', 'import', '--cmdline', '-m 10'])).code).toBe(2);
    expect(
      (await oomfleet(['policy', 'import', '--from', 'nohang', '--cmdline', '-m 10'])).code,
    ).toBe(2);
  });
});

describe('oomfleet policy validate', () => {
  it('accepts every bundled example (exit 0)', async () => {
    expect(examples.length).toBeGreaterThan(10);
    const r = await oomfleet(['policy', 'validate', ...examples]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(examples.length);
  });

  it('rejects every invalid fixture (exit 1) naming path and line:column', async () => {
    // One run over all fixtures: each is reported under its own name.
    const r = await oomfleet(['policy', 'validate', ...invalid]);
    expect(r.code).toBe(1);
    for (const file of invalid) {
      expect(r.stdout).toContain(`invalid  ${file}`);
      expect(r.stderr).toMatch(
        new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `),
      );
    }
  });

  it('exits 1 when any of several files is invalid, and reports each', async () => {
    const r = await oomfleet(['policy', 'validate', examples[0] ?? '', invalid[0] ?? '']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ok/m);
    expect(r.stdout).toMatch(/^invalid/m);
  });

  it('--json gives per-file results with issues, paths and positions', async () => {
    const file = join(tmp, 'bad.yaml');
    writeFileSync(file, policyYaml.replace('80%', '5G').replace('largest', 'biggest'));
    const r = await oomfleet(['policy', 'validate', '--json', file]);
    expect(r.code).toBe(1);
    const [out] = JSON.parse(r.stdout) as [
      { ok: boolean; issues: { path: string; line: number; column: number; hint: string }[] },
    ];
    expect(out.ok).toBe(false);
    const paths = out.issues.map((i) => `${i.path}@${i.line}:${i.column}`);
    expect(paths).toContain('spec.rules[0].when.usage.above@9:31');
    expect(paths).toContain('spec.rules[0].action.kill.victim@10:33');
    expect(out.issues.every((i) => i.hint.length > 0)).toBe(true);
  });

  it('reads stdin with -', async () => {
    const r = await oomfleet(['policy', 'validate', '-'], policyYaml);
    expect(r.code).toBe(0);
  });

  it('a missing file exits 1 with its name', async () => {
    const r = await oomfleet(['policy', 'validate', join(tmp, 'nope.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nope.yaml: no such file');
  });
});

describe('oomfleet policy digest, fmt, diff, schema', () => {
  it('gives one digest to a YAML policy and its JSON equivalent, and prints canonical JSON', async () => {
    const y = join(tmp, 'p.yaml');
    const j = join(tmp, 'p.json');
    writeFileSync(y, policyYaml);
    const canon = await oomfleet(['policy', 'digest', '--canonical', y]);
    expect(canon.code).toBe(0);
    writeFileSync(j, canon.stdout);
    const r = await oomfleet(['policy', 'digest', '--json', y, j]);
    const out = JSON.parse(r.stdout) as { digest: string }[];
    expect(out).toHaveLength(2);
    expect(out[0]?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(out[0]?.digest).toBe(out[1]?.digest);
  });

  it('fmt --check fails on an unformatted file, --write fixes it and keeps comments', async () => {
    const file = join(tmp, 'fmt.yaml');
    writeFileSync(file, policyYaml.replace('spec:\n', 'spec:\n  interval: 1000ms\n'));
    expect((await oomfleet(['policy', 'fmt', '--check', file])).code).toBe(1);
    const before = (await oomfleet(['policy', 'digest', file])).stdout.split(' ')[0];
    expect((await oomfleet(['policy', 'fmt', '--write', file])).code).toBe(0);
    expect((await oomfleet(['policy', 'fmt', '--check', file])).code).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('# kills in /batch when a job nears its limit');
    expect(text).toContain('interval: 1s');
    expect((await oomfleet(['policy', 'digest', file])).stdout.split(' ')[0]).toBe(before);
  });

  it('diff says what changed in words, and --exit-code signals a difference', async () => {
    const a = join(tmp, 'a.yaml');
    const b = join(tmp, 'b.yaml');
    writeFileSync(a, policyYaml);
    writeFileSync(b, policyYaml.replace('victim: largest', 'victim: fastest-growing'));
    const r = await oomfleet(['policy', 'diff', a, b]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/largest/);
    expect(r.stdout).toMatch(/fastest-growing/);
    expect((await oomfleet(['policy', 'diff', '--exit-code', a, b])).code).toBe(1);
    expect((await oomfleet(['policy', 'diff', '--exit-code', a, a])).code).toBe(0);
    const j = JSON.parse((await oomfleet(['policy', 'diff', '--json', a, b])).stdout) as {
      changes: unknown[];
    };
    expect(j.changes.length).toBeGreaterThan(0);
  });

  it('schema prints the committed JSON Schema', async () => {
    const r = await oomfleet(['policy', 'schema']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(
      JSON.parse(readFileSync(join(root, 'schemas/policy.schema.json'), 'utf8')),
    );
  });
});

describe('oomfleet policy explain', () => {
  it('--json prints decisions with their traces', async () => {
    const file = join(tmp, 'explain.yaml');
    writeFileSync(file, policyYaml);
    const r = await oomfleet(['policy', 'explain', file, '--snapshot', snapshot, '--json']);
    expect(r.code).toBe(0);
    const e = JSON.parse(r.stdout) as {
      decisions: {
        action: string;
        enforce: boolean;
        kill?: { pid: number };
        trace: { summary: string; victim?: { chosen?: { label: string } } };
      }[];
      rules: { rule: string; outcome: string }[];
    };
    expect(e.rules).toEqual([expect.objectContaining({ rule: 'batch-usage', outcome: 'acted' })]);
    expect(e.decisions).toHaveLength(1);
    const d = e.decisions[0];
    expect(d?.action).toBe('kill');
    expect(d?.enforce).toBe(true);
    // job-a is at 87.5% of its 8Gi limit; its largest process is the spark executor.
    expect(d?.kill?.pid).toBe(4101);
    expect(d?.trace.summary).toContain('87.5% of limit');
    expect(d?.trace.victim?.chosen?.label).toBe('pid 4101 (spark-executor)');
  });

  it('prints a table and the reasons for people', async () => {
    const file = join(tmp, 'explain2.yaml');
    writeFileSync(file, policyYaml);
    const r = await oomfleet(['policy', 'explain', file, '--snapshot', snapshot]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/RULE\s+SCOPE\s+MATCHED\s+FIRED\s+OUTCOME/);
    expect(r.stdout).toContain('victim: pid 4101 (spark-executor)');
    expect(r.stdout).toMatch(/not pid 4102 \(python3\): ranked lower/);
  });

  it('an invalid snapshot exits 1 with the path of the problem', async () => {
    const bad = join(tmp, 'snap.json');
    copyFileSync(snapshot, bad);
    writeFileSync(bad, readFileSync(bad, 'utf8').replace('"memTotal"', '"memTotl"'));
    const file = join(tmp, 'explain3.yaml');
    writeFileSync(file, policyYaml);
    const r = await oomfleet(['policy', 'explain', file, '--snapshot', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\[0\]\.host\.memTotl/);
  });
});

describe('oomfleet policy import', () => {
  it('turns an earlyoom command line into a valid policy', async () => {
    const r = await oomfleet([
      'policy',
      'import',
      '--from',
      'earlyoom',
      '--cmdline',
      '-m 10 -s 10',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      valid: boolean;
      digest: string;
      document: { kind: string };
    };
    expect(out.valid).toBe(true);
    expect(out.document.kind).toBe('OomPolicy');
    expect(out.digest).toMatch(/^sha256:/);
  });

  it('writes YAML that validates', async () => {
    const out = join(tmp, 'imported.yaml');
    const r = await oomfleet([
      'policy',
      'import',
      '--from',
      'earlyoom',
      '--cmdline',
      '-m 5 --avoid ^sshd$',
      '-o',
      out,
    ]);
    expect(r.code).toBe(0);
    expect((await oomfleet(['policy', 'validate', out])).code).toBe(0);
  });
});
