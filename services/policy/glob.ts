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

/** More path segments than any real cgroup tree needs, and few enough to match cheaply. */
export const MAX_GLOB_SEGMENTS = 64;

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
  if (parts.length > MAX_GLOB_SEGMENTS)
    throw new GlobError(
      `cgroup glob ${JSON.stringify(source)} has ${parts.length} segments`,
      `use at most ${MAX_GLOB_SEGMENTS}; ** matches any depth`,
    );
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

/**
 * Does segs[si..] match names[ni..]? Memoised on (si, ni), so a glob with
 * many `**` stays polynomial: the agent runs this for every memcg on every
 * tick, and delegated cgroup trees can be deep.
 */
function matchSegments(segs: readonly Segment[], names: readonly string[]): boolean {
  const memo = new Map<number, boolean>();
  const width = names.length + 1;
  const go = (si: number, ni: number): boolean => {
    if (si === segs.length) return ni === names.length;
    const key = si * width + ni;
    const cached = memo.get(key);
    if (cached !== undefined) return cached;
    const seg = segs[si];
    let result = false;
    if (!seg) result = false;
    else if (seg.kind === 'any-depth') {
      // ** absorbs nothing and moves on, or absorbs one more name.
      result = go(si + 1, ni) || (ni < names.length && go(si, ni + 1));
    } else {
      const name = names[ni];
      result = name !== undefined && segmentMatches(seg, name) && go(si + 1, ni + 1);
    }
    memo.set(key, result);
    return result;
  };
  return go(0, 0);
}

export function compileGlob(source: string): CgroupGlob {
  const segments = parseSegments(source);
  const matches = (path: string): boolean => matchSegments(segments, splitCgroupPath(path));
  return {
    source,
    segments,
    matches,
    matchesSelfOrAncestor(path: string): boolean {
      const names = splitCgroupPath(path);
      for (let n = names.length; n >= 0; n--) {
        if (matchSegments(segments, names.slice(0, n))) return true;
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
  const n = a.segments.length;
  const m = b.segments.length;
  // cover[i][j]: paths matched by a.segments[i..] are covered by b.segments[j..]
  // ("covered" lets b end early: matching an ancestor covers the subtree).
  // Filled from the end so each cell is computed once: O(n·m).
  const cover: boolean[][] = Array.from({ length: n + 1 }, () =>
    new Array<boolean>(m + 1).fill(false),
  );
  for (let i = n; i >= 0; i--) {
    const row = cover[i] ?? [];
    row[m] = true;
    for (let j = m - 1; j >= 0; j--) {
      const sb = b.segments[j];
      const sa = a.segments[i];
      if (sb?.kind === 'any-depth') {
        // b's ** absorbs none of a's remaining segments, or one more of them.
        row[j] = (row[j + 1] ?? false) || (i < n && (cover[i + 1]?.[j] ?? false));
      } else if (i === n || !sa || !sb || sa.kind === 'any-depth') row[j] = false;
      else row[j] = segSubset(sa, sb) && (cover[i + 1]?.[j + 1] ?? false);
    }
  }
  return cover[0]?.[0] ?? false;
}

/**
 * A tree walk that visits only what some of `globs` can match: the states
 * (positions in each glob) after the names of a path so far. Start from
 * globWalkStart(globs), step into a child with globWalkStep; an empty state
 * set means nothing at or below that path can match, and globWalkDeeper
 * says whether a child of the path can.
 */
export type GlobWalkState = ReadonlyArray<{ glob: CgroupGlob; at: readonly number[] }>;

/** The positions reachable from `at` without consuming a name (`**` absorbing nothing). */
function closure(segs: readonly Segment[], at: Iterable<number>): number[] {
  const out = new Set<number>();
  for (let si of at) {
    while (!out.has(si)) {
      out.add(si);
      if (segs[si]?.kind !== 'any-depth') break;
      si++;
    }
  }
  return [...out];
}

export function globWalkStart(globs: readonly CgroupGlob[]): GlobWalkState {
  return globs.map((glob) => ({ glob, at: closure(glob.segments, [0]) }));
}

export function globWalkStep(state: GlobWalkState, name: string): GlobWalkState {
  const out: { glob: CgroupGlob; at: readonly number[] }[] = [];
  for (const { glob, at } of state) {
    const next: number[] = [];
    for (const si of at) {
      const seg = glob.segments[si];
      if (!seg) continue;
      if (seg.kind === 'any-depth') next.push(si);
      else if (segmentMatches(seg, name)) next.push(si + 1);
    }
    if (next.length > 0) out.push({ glob, at: closure(glob.segments, next) });
  }
  return out;
}

export function globWalkDeeper(state: GlobWalkState): boolean {
  return state.some(({ glob, at }) => at.some((si) => si < glob.segments.length));
}
