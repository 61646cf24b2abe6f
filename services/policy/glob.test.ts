// Cgroup globs: `*` within one segment, `**` at any depth (including zero),
// the root, literal names with regex metacharacters, refusals, normal form and
// the conservative "is every path of a inside b" check.
import { describe, it, expect } from 'vitest';
import {
  GlobError,
  MAX_GLOB_SEGMENTS,
  compileGlob,
  globCoveredBy,
  globWalkDeeper,
  globWalkStart,
  globWalkStep,
  normalizeGlob,
  splitCgroupPath,
  type GlobWalkState,
} from './glob.ts';

const matches = (glob: string, path: string): boolean => compileGlob(glob).matches(path);
const covered = (a: string, b: string): boolean => globCoveredBy(compileGlob(a), compileGlob(b));

function globError(source: string): GlobError {
  try {
    compileGlob(source);
  } catch (e) {
    if (e instanceof GlobError) return e;
    throw e;
  }
  throw new Error(`expected ${source} to be refused`);
}

describe('compileGlob: `*` matches within one segment', () => {
  it('matches any run of characters, including none, but never a "/"', () => {
    expect(matches('/batch/*', '/batch/job-1')).toBe(true);
    expect(matches('/batch/*', '/batch/x')).toBe(true);
    expect(matches('/batch/*', '/batch')).toBe(false);
    expect(matches('/batch/*', '/batch/job-1/task')).toBe(false);
    expect(matches('/batch/job-*', '/batch/job-')).toBe(true);
    expect(matches('/batch/job-*', '/batch/job-42')).toBe(true);
    expect(matches('/batch/job-*', '/batch/task-42')).toBe(false);
    expect(matches('/*/app', '/web/app')).toBe(true);
    expect(matches('/*/app', '/web/x/app')).toBe(false);
    expect(matches('/a*b*c', '/abc')).toBe(true);
    expect(matches('/a*b*c', '/a-x-b-y-c')).toBe(true);
    expect(matches('/a*b*c', '/a-x-c')).toBe(false);
  });

  it('matches literal segments exactly', () => {
    expect(matches('/system.slice/sshd.service', '/system.slice/sshd.service')).toBe(true);
    expect(matches('/system.slice/sshd.service', '/system.slice/sshd.service/x')).toBe(false);
    expect(matches('/system.slice/sshd.service', '/system.slice/sshdXservice')).toBe(false);
    expect(matches('/system.slice', '/System.slice')).toBe(false);
  });
});

describe('compileGlob: `**` matches any depth, including zero', () => {
  it('matches the segment itself, children and grandchildren', () => {
    for (const p of ['/batch', '/batch/a', '/batch/a/b', '/batch/a/b/c/d/e'])
      expect(matches('/batch/**', p)).toBe(true);
    expect(matches('/batch/**', '/batchx')).toBe(false);
    expect(matches('/batch/**', '/web/batch')).toBe(false);
  });

  it('matches zero or more segments in the middle', () => {
    expect(matches('/a/**/z', '/a/z')).toBe(true);
    expect(matches('/a/**/z', '/a/b/z')).toBe(true);
    expect(matches('/a/**/z', '/a/b/c/d/z')).toBe(true);
    expect(matches('/a/**/z', '/a/b/c/d/z/e')).toBe(false);
    expect(matches('/**/sshd.service', '/sshd.service')).toBe(true);
    expect(matches('/**/sshd.service', '/system.slice/sshd.service')).toBe(true);
    expect(matches('/**/*.scope', '/user.slice/user-1000.slice/session-2.scope')).toBe(true);
    expect(matches('/**/*.scope', '/user.slice/user-1000.slice')).toBe(false);
  });

  it('handles several `**` without blowing up on deep paths', () => {
    const deep = `/${Array.from({ length: 30 }, (_, i) => `d${i}`).join('/')}`;
    expect(matches('/**/d5/**/d20/**', deep)).toBe(true);
    expect(matches('/**/d20/**/d5/**', deep)).toBe(false);
  });
});

describe('compileGlob: matching cost', () => {
  // Matching is memoised on (segment, name), so many `**` stay cheap: the
  // agent matches every memcg on every tick, and delegated trees can be deep.
  it('matches in polynomial time whatever the number of `**`', () => {
    const g = compileGlob(`/${Array.from({ length: 12 }, () => '**/a').join('/')}/b`);
    const path = `/${Array.from({ length: 30 }, () => 'a').join('/')}`;
    const start = performance.now();
    expect(g.matches(path)).toBe(false);
    // Unmemoised this is C(30, 12) ≈ 86 million paths: hours, not seconds.
    expect(performance.now() - start).toBeLessThan(3000);
  });
});

describe('compileGlob: the root', () => {
  it('"/" is the root itself and nothing below it', () => {
    expect(matches('/', '/')).toBe(true);
    expect(matches('/', '')).toBe(true);
    expect(matches('/', '/a')).toBe(false);
    expect(compileGlob('/').segments).toEqual([]);
  });

  it('"/**" is everything, the root included', () => {
    for (const p of ['/', '/a', '/a/b/c']) expect(matches('/**', p)).toBe(true);
  });

  it('"/*" is the root\'s children only', () => {
    expect(matches('/*', '/a')).toBe(true);
    expect(matches('/*', '/')).toBe(false);
    expect(matches('/*', '/a/b')).toBe(false);
  });

  it('splits cgroup paths ignoring leading, trailing and repeated slashes', () => {
    expect(splitCgroupPath('/')).toEqual([]);
    expect(splitCgroupPath('/a/b/')).toEqual(['a', 'b']);
    expect(splitCgroupPath('a//b')).toEqual(['a', 'b']);
  });
});

describe('compileGlob: names with regex metacharacters are literal', () => {
  it('escapes "." "@" "+" "(" and friends in segments with a `*`', () => {
    expect(matches('/user.slice/user@*.service', '/user.slice/user@1000.service')).toBe(true);
    // "." must not match any character.
    expect(matches('/user.slice/user@*.service', '/user.slice/user@1000xservice')).toBe(false);
    expect(matches('/user.slice/user@*.service', '/userXslice/user@1000.service')).toBe(false);
    expect(matches('/a+b/(x)*', '/a+b/(x)yz')).toBe(true);
    expect(matches('/a+b/(x)*', '/aab/(x)yz')).toBe(false);
    expect(matches('/[ab]*', '/[ab]c')).toBe(true);
    expect(matches('/[ab]*', '/a')).toBe(false);
    expect(matches('/x?*', '/x?y')).toBe(true);
    expect(matches('/x?*', '/y')).toBe(false);
    expect(matches('/^$*', '/^$1')).toBe(true);
    expect(matches('/a|b*', '/a')).toBe(false);
    expect(matches('/a{2}*', '/aa')).toBe(false);
    expect(matches('/a\\d*', '/a\\d7')).toBe(true);
    expect(matches('/a\\d*', '/a7')).toBe(false);
  });

  it('keeps literal segments literal', () => {
    expect(matches('/user.slice/user@1000.service', '/user.slice/user@1000.service')).toBe(true);
    expect(matches('/user.slice/user@1000.service', '/user.slice/user@1000xservice')).toBe(false);
  });
});

describe('compileGlob: refusals', () => {
  it.each(['/..', '/a/..', '/a/../b', '/a/.', '/./a', '/..//x'])('refuses %s', (g) => {
    expect(() => compileGlob(g)).toThrow(GlobError);
  });

  it('refuses "." and ".." with a hint about the cgroup root', () => {
    const e = globError('/batch/../system.slice');
    expect(e.message).toMatch(/climbs out with ".."/);
    expect(e.hint).toMatch(/cannot leave the cgroup root/);
    expect(globError('/batch/./x').message).toMatch(/climbs out with "."/);
  });

  it('allows names that merely contain dots', () => {
    expect(matches('/a/...', '/a/...')).toBe(true);
    expect(matches('/a/..b', '/a/..b')).toBe(true);
    expect(matches('/a/.hidden', '/a/.hidden')).toBe(true);
  });

  it('refuses relative globs, empty segments, NUL and `**` inside a segment', () => {
    expect(globError('batch/*').message).toMatch(/not absolute/);
    expect(globError('batch/*').hint).toMatch(/start it with "\/"/);
    expect(globError('').message).toMatch(/not absolute/);
    expect(globError('global').message).toMatch(/not absolute/);
    expect(globError('/a//b').message).toMatch(/empty segment/);
    expect(globError('//').message).toMatch(/empty segment/);
    expect(globError('/a\0b').message).toMatch(/NUL/);
    expect(globError('/a/b**').message).toMatch(/whole segment/);
    expect(globError('/a/***').message).toMatch(/whole segment/);
  });
});

describe('normalizeGlob', () => {
  it.each([
    ['/', '/'],
    ['/batch/', '/batch'],
    ['/batch/*', '/batch/*'],
    ['/a/**/**/b', '/a/**/b'],
    ['/**/**', '/**'],
    ['/a/**/**/**/', '/a/**'],
  ])('writes %s as %s', (input, normal) => {
    expect(normalizeGlob(input)).toBe(normal);
  });

  it('does not change what a glob matches', () => {
    const paths = ['/', '/a', '/a/b', '/a/x/b', '/a/x/y/b', '/b'];
    for (const g of ['/a/**/**/b', '/a/', '/**/**/b'])
      for (const p of paths) expect(matches(normalizeGlob(g), p)).toBe(matches(g, p));
  });
});

describe('matchesSelfOrAncestor (protection covers the subtree)', () => {
  it('matches the path or any of its ancestors', () => {
    const g = compileGlob('/system.slice/sshd.service');
    expect(g.matchesSelfOrAncestor('/system.slice/sshd.service')).toBe(true);
    expect(g.matchesSelfOrAncestor('/system.slice/sshd.service/child')).toBe(true);
    expect(g.matchesSelfOrAncestor('/system.slice')).toBe(false);
    expect(g.matchesSelfOrAncestor('/system.slice/cron.service')).toBe(false);
    expect(compileGlob('/').matchesSelfOrAncestor('/anything/at/all')).toBe(true);
    expect(compileGlob('/batch/*').matchesSelfOrAncestor('/batch/job/task')).toBe(true);
    expect(compileGlob('/batch/*').matchesSelfOrAncestor('/batch')).toBe(false);
  });
});

describe('globCoveredBy: is every path of a inside (or below) something b matches?', () => {
  it.each([
    ['/batch/*', '/batch'],
    ['/batch/job-1', '/batch/*'],
    ['/batch/job-*', '/batch/*'],
    ['/batch/job-1', '/batch/job-*'],
    ['/batch', '/batch'],
    ['/batch/a/b/c', '/batch'],
    ['/batch/**', '/batch'],
    ['/batch/**', '/batch/**'],
    ['/batch', '/batch/**'],
    ['/batch/*/x', '/batch/**'],
    ['/a/x/y', '/a/*/y'],
    ['/a/*/y', '/a/**/y'],
    ['/a/b/c/y', '/a/**/y'],
    ['/a/**/b', '/a/**'],
    ['/anything/at/all', '/'],
    ['/', '/'],
    ['/**', '/'],
    ['/**', '/**'],
    ['/a/b', '/**'],
    ['/system.slice/sshd.service', '/system.slice'],
  ])('%s is covered by %s', (a, b) => {
    expect(covered(a, b)).toBe(true);
    // Covering is consistent with matching: every sample path a matches is covered by b.
    const ga = compileGlob(a);
    const gb = compileGlob(b);
    for (const p of ['/batch/job-1', '/batch/job-1/x', '/a/x/y', '/a/b/c/y', '/batch', '/'])
      if (ga.matches(p)) expect(gb.matchesSelfOrAncestor(p)).toBe(true);
  });

  it.each([
    ['/batch', '/batch/*'],
    ['/batch/*', '/batch/job-*'],
    ['/batch/**', '/batch/*'],
    ['/web/*', '/batch'],
    ['/batchx', '/batch'],
    ['/', '/batch'],
    ['/**', '/batch'],
    ['/a/*/y', '/a/x/y'],
    ['/a/**', '/a/**/b'],
    ['/a/**/y', '/a/*/y'],
    ['/system.slice', '/system.slice/sshd.service'],
    ['/*', '/a'],
  ])('%s is not covered by %s', (a, b) => {
    expect(covered(a, b)).toBe(false);
  });

  it('answers quickly for globs of realistic depth', () => {
    const a = compileGlob(`/${Array.from({ length: 40 }, () => 'x').join('/')}/y`);
    const b = compileGlob(`/${Array.from({ length: 20 }, () => '**/x').join('/')}/z`);
    const start = performance.now();
    expect(globCoveredBy(a, b)).toBe(false);
    expect(performance.now() - start).toBeLessThan(2000);
  });

  // Coverage is O(n·m) in the segments of the two globs, and globs are capped
  // at MAX_GLOB_SEGMENTS, so validation cannot be made slow by long globs.
  it('refuses globs with more segments than the cap, and stays fast at the cap', () => {
    expect(() => compileGlob(`/${Array.from({ length: 700 }, () => 'x').join('/')}`)).toThrow(
      /segments/,
    );
    const a = compileGlob(
      `/${Array.from({ length: MAX_GLOB_SEGMENTS - 1 }, () => 'x').join('/')}/y`,
    );
    const b = compileGlob(
      `/${Array.from({ length: MAX_GLOB_SEGMENTS / 2 - 1 }, () => '**/x').join('/')}/z`,
    );
    const start = performance.now();
    expect(globCoveredBy(a, b)).toBe(false);
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

describe('globWalkStart / globWalkStep / globWalkDeeper', () => {
  // A tree walk pruned by the walk state must still reach every match and its ancestors.
  const TREE = [
    '/',
    '/a',
    '/a/b',
    '/a/b/c',
    '/a/b/c/d',
    '/a/x',
    '/a/x/b',
    '/fleet',
    '/fleet/job-1',
    '/fleet/job-1/sub',
    '/fleet/job-2',
    '/other',
    '/other/fleet',
    '/other/fleet/job-3',
  ];
  const children = (p: string): string[] =>
    TREE.filter((c) => c !== p && c.startsWith(p === '/' ? '/' : `${p}/`))
      .map((c) => c.slice(p === '/' ? 1 : p.length + 1))
      .filter((rest) => !rest.includes('/'));
  const walk = (globs: string[]): string[] => {
    const out: string[] = [];
    const go = (path: string, state: GlobWalkState): void => {
      out.push(path);
      if (!globWalkDeeper(state)) return;
      for (const name of children(path)) {
        const next = globWalkStep(state, name);
        if (next.length > 0) go(path === '/' ? `/${name}` : `${path}/${name}`, next);
      }
    };
    go('/', globWalkStart(globs.map(compileGlob)));
    return out.sort();
  };
  const needed = (globs: string[]): string[] => {
    const out = new Set<string>();
    for (const p of TREE)
      if (globs.some((g) => matches(g, p)))
        for (let q = p; ; q = q.lastIndexOf('/') <= 0 ? '/' : q.slice(0, q.lastIndexOf('/'))) {
          out.add(q);
          if (q === '/') break;
        }
    return [...out].sort();
  };

  it.each([
    [['/fleet/*']],
    [['/fleet']],
    [['/']],
    [['/**']],
    [['/**/fleet/*']],
    [['/a/**/b']],
    [['/a/*/c', '/other/**']],
    [['/*/b/**']],
    [['/nothing/*']],
    [['/f*/job-*']],
  ])('reaches every match of %j and its ancestors', (globs) => {
    const visited = walk(globs);
    for (const p of needed(globs)) expect(visited).toContain(p);
  });

  it('does not descend below what a glob can match', () => {
    expect(walk(['/fleet/*'])).toEqual(['/', '/fleet', '/fleet/job-1', '/fleet/job-2']);
    expect(walk(['/fleet'])).toEqual(['/', '/fleet']);
    expect(walk(['/'])).toEqual(['/']);
    expect(walk(['/**'])).toEqual([...TREE].sort());
    expect(walk(['/a/**/b'])).toEqual(['/', '/a', '/a/b', '/a/b/c', '/a/b/c/d', '/a/x', '/a/x/b']);
  });
});
