// Test helper: the fake /proc of test/fixtures/proc, copied to a temporary
// directory and completed with what cannot be committed as plain text
// (cmdline files with NUL bytes) or as a file at all (an unreadable one).
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FIXTURE_PROC = new URL('../../../test/fixtures/proc/', import.meta.url).pathname;

/** argv of fixture pid 4500: longer than MAX_CMDLINE, to test the cut. */
export const LONG_ARGV = ['java', '-cp', 'x'.repeat(5000), 'Main'];

export interface ProcFixture {
  root: string;
  cleanup(): void;
}

const argv = (...args: string[]): Buffer => Buffer.from(args.map((a) => `${a}\0`).join(''));

export function makeProcFixture(): ProcFixture {
  const root = mkdtempSync(join(tmpdir(), 'oomfleet-proc-'));
  cpSync(FIXTURE_PROC, root, { recursive: true });
  writeFileSync(join(root, '1/cmdline'), argv('/sbin/init', 'splash'));
  writeFileSync(join(root, '2/cmdline'), Buffer.alloc(0));
  // An empty argument in the middle is a real argument; trailing NULs pad a rewritten title.
  writeFileSync(
    join(root, '4242/cmdline'),
    Buffer.concat([argv('python3', '-c', '', 'x y'), Buffer.alloc(3)]),
  );
  // Unreadable: reading a directory fails with EISDIR, as an EACCES file would for non-root.
  mkdirSync(join(root, '4400/cmdline'));
  mkdirSync(join(root, '4400/oom_score_adj'));
  mkdirSync(join(root, '4500'));
  writeFileSync(
    join(root, '4500/stat'),
    '4500 (java) S 1 4500 4500 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 30 0 40000 5246976 732 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n',
  );
  writeFileSync(join(root, '4500/cmdline'), argv(...LONG_ARGV));
  writeFileSync(join(root, '4500/oom_score'), '100\n');
  writeFileSync(join(root, '4500/oom_score_adj'), '-1000\n');
  writeFileSync(join(root, '4500/status'), 'Name:\tjava\nPid:\t4500\nVmRSS:\t 1048576 kB\n');
  writeFileSync(join(root, '4500/cgroup'), '4:memory:/batch/job-2/worker\n0::/\n');
  return {
    root,
    cleanup: () => {
      rmSync(root, { recursive: true, force: true });
    },
  };
}
