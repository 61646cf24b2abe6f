// Cgroup path globs. Paths are absolute and relative to the cgroup root the
// agent is configured with ("/" is the root itself). A glob is a list of
// segments: `**` alone matches zero or more segments, `*` inside a segment
// matches any run of characters other than `/`. `.` and `..` segments are
// refused so that no glob can name anything outside the cgroup root.

export class GlobError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'GlobError';
  }
}

type Segment = { kind: 'any-depth' } | { kind: 'pattern'; text: string; re: RegExp | null };

export interface CgroupGlob {
  readonly source: string;
  /** Does this glob match the cgroup at `path` (an absolute path, "/" for the root)? */
  matches(path: string): boolean;
  /** Does it match `path` or any ancestor of it (i.e. does it cover the subtree)? */
  matchesSelfOrAncestor(path: string): boolean;
  readonly segments: readonly Segment[];
}

function escapeRe(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

export function splitCgroupPath(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

function parseSegments(source: string): Segment[] {
  if (!source.startsWith('/'))
    throw new GlobError(
      `cgroup glob ${JSON.stringify(source)} is not absolute`,
      'start it with "/", relative to the cgroup root, e.g. /system.slice/*',
    );
  if (source.includes('\0')) throw new GlobError('cgroup glob contains a NUL byte', 'remove it');
  if (source === '/') return [];
  const body = source.endsWith('/') ? source.slice(1, -1) : source.slice(1);
  const parts = body.split('/');
  return parts.map((text) => {
    if (text === '')
      throw new GlobError(
        `cgroup glob ${JSON.stringify(source)} has an empty segment`,
        'remove the doubled "/"',
      );
    if (text === '.' || text === '..')
      throw new GlobError(
        `cgroup glob ${JSON.stringify(source)} climbs out with "${text}"`,
        'globs cannot leave the cgroup root; write the absolute path instead',
      );
    if (text === '**') return { kind: 'any-depth' } as const;
    if (text.includes('**'))
      throw new GlobError(
        `"**" must be a whole segment in ${JSON.stringify(source)}`,
        'write /a/**/b, or use a single * inside a segment',
      );
    const re = text.includes('*')
      ? new RegExp(`^${text.split('*').map(escapeRe).join('[^/]*')}$`)
      : null;
    return { kind: 'pattern', text, re } as const;
  });
}

function segmentMatches(seg: Segment & { kind: 'pattern' }, name: string): boolean {
  return seg.re ? seg.re.test(name) : seg.text === name;
}

function matchFrom(
  segs: readonly Segment[],
  si: number,
  names: readonly string[],
  ni: number,
): boolean {
  if (si === segs.length) return ni === names.length;
  const seg = segs[si];
  if (!seg) return false;
  if (seg.kind === 'any-depth') {
    for (let k = ni; k <= names.length; k++) if (matchFrom(segs, si + 1, names, k)) return true;
    return false;
  }
  const name = names[ni];
  if (name === undefined || !segmentMatches(seg, name)) return false;
  return matchFrom(segs, si + 1, names, ni + 1);
}

export function compileGlob(source: string): CgroupGlob {
  const segments = parseSegments(source);
  const matches = (path: string): boolean => matchFrom(segments, 0, splitCgroupPath(path), 0);
  return {
    source,
    segments,
    matches,
    matchesSelfOrAncestor(path: string): boolean {
      const names = splitCgroupPath(path);
      for (let n = names.length; n >= 0; n--) {
        if (matchFrom(segments, 0, names.slice(0, n), 0)) return true;
      }
      return false;
    },
  };
}

/** Normal form of a glob: no trailing slash, no repeated `**` segments. */
export function normalizeGlob(source: string): string {
  const segs = parseSegments(source);
  const out: string[] = [];
  for (const s of segs) {
    const text = s.kind === 'any-depth' ? '**' : s.text;
    if (text === '**' && out[out.length - 1] === '**') continue;
    out.push(text);
  }
  return `/${out.join('/')}`;
}

function segSubset(a: Segment & { kind: 'pattern' }, b: Segment & { kind: 'pattern' }): boolean {
  if (b.text === '*') return true;
  if (!a.re && !b.re) return a.text === b.text;
  if (!a.re && b.re) return b.re.test(a.text);
  return a.text === b.text;
}

/**
 * Is every path matched by `a` also matched by `b`, or below something `b`
 * matches? Conservative: `false` may be a "don't know" for exotic mixes of
 * partial wildcards, never a wrong `true`.
 */
export function globCoveredBy(a: CgroupGlob, b: CgroupGlob): boolean {
  const memo = new Map<string, boolean>();
  // cover(i, j): paths matched by a.segments[i..] are covered by b.segments[j..]
  // (with "covered" allowing b to end early: b's match of an ancestor covers the subtree).
  const cover = (i: number, j: number): boolean => {
    const key = `${i},${j}`;
    const cached = memo.get(key);
    if (cached !== undefined) return cached;
    let result: boolean;
    const sb = b.segments[j];
    const sa = a.segments[i];
    if (j === b.segments.length) result = true;
    else if (sb?.kind === 'any-depth') {
      // b's ** can absorb any number of a's segments, including all of them.
      result = j + 1 === b.segments.length;
      for (let k = i; !result && k <= a.segments.length; k++) result = cover(k, j + 1);
    } else if (i === a.segments.length || !sa || !sb) result = false;
    else if (sa.kind === 'any-depth') result = false;
    else result = segSubset(sa, sb) && cover(i + 1, j + 1);
    memo.set(key, result);
    return result;
  };
  return cover(0, 0);
}
