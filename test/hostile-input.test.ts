// Hostile documents must not take the process down. These run the validator in
// a child process, since what they guard against is a crash of the process
// itself, which no try/catch in a test could survive.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';

const root = join(import.meta.dirname, '..');

/** Runs `body` as an ES module with tsx in a fresh Node process; `loadPolicy` is in scope. */
function runIsolated(body: string): { status: number | null; stdout: string; stderr: string } {
  const script = `import { loadPolicy } from './services/policy/load-text.ts';\n${body}`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('hostile input in a fresh process', () => {
  it('survives a document just past the nesting cap, repeatedly', () => {
    const r = runIsolated(`
      const deep = 'x: ' + '['.repeat(40) + ']'.repeat(40);
      for (let i = 0; i < 5; i++) console.log(loadPolicy(deep).issues[0]?.message);
    `);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(
      Array.from({ length: 5 }, () => 'document nests deeper than 32 levels'),
    );
  });

  // The YAML composer recurses once per nesting level; a few thousand levels
  // (a 6 KB document: "x:\n  - - - - … 1") would overflow the stack, and from
  // the second such document on V8 aborts the whole process. parse.ts measures
  // the depth on the token tree, without recursion, before composing.
  it('a deeply nested document cannot crash the process', () => {
    const r = runIsolated(`
      const deep = 'x:\\n  ' + '- '.repeat(3000) + '1\\n';
      for (let i = 0; i < 3; i++) console.log(loadPolicy(deep).issues[0]?.message);
    `);
    expect(r.stderr).not.toMatch(/FATAL ERROR/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/nest/);
  });
});
