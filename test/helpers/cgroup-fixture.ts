// Fixture cgroup trees for driver tests, as oomd's util/Fixture.h does it: the
// committed tree under test/fixtures/<name> (files shaped exactly like the
// kernel's) is copied to a fresh temporary directory for each test, so a test
// may write settings, delete files or remove whole cgroups without touching
// the committed tree or other tests.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach } from 'vitest';

export const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/', import.meta.url));

export interface CgroupFixture {
  /** The temporary copy: use it as the driver's root. */
  root: string;
  remove(): void;
}

/** Copies test/fixtures/<name> to a new temporary directory. */
export function copyCgroupFixture(name = 'cgroup-v2'): CgroupFixture {
  const root = mkdtempSync(join(tmpdir(), `oomfleet-${name}-`));
  cpSync(join(FIXTURES_DIR, name), root, { recursive: true });
  return {
    root,
    remove: () => {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * Registers beforeEach/afterEach hooks in the calling describe block; the
 * returned function gives the current test's copy.
 */
export function useCgroupFixture(name = 'cgroup-v2'): () => CgroupFixture {
  let current: CgroupFixture | undefined;
  beforeEach(() => {
    current = copyCgroupFixture(name);
  });
  afterEach(() => {
    current?.remove();
    current = undefined;
  });
  return () => {
    if (!current) throw new Error('useCgroupFixture: no fixture outside a test');
    return current;
  };
}
