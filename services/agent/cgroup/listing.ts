// list() for both drivers: the tree walk, done again only when the watch
// (watch.ts) saw a memcg made or removed, or TRUST_MS has passed. Every tick
// lists the memcgs in scope, and readdir of a directory with hundreds of
// memcgs, every second, cost more than reading them.
import type { CgroupGlob } from '../../policy/index.ts';
import { cgroupDir } from './fs.ts';
import { TRUST_MS, TreeWatch } from './watch.ts';

type Walk = (globs?: readonly CgroupGlob[]) => string[];

interface Listing {
  at: number;
  /** The watch's tree version the walk started at. */
  version: number;
  paths: string[];
}

export class Lister {
  private readonly listings = new Map<string, Listing>();

  /** Without a watch every list() walks, as on a fixture tree. */
  constructor(
    private readonly root: string,
    private readonly walk: Walk,
    readonly watch?: TreeWatch,
  ) {}

  /** The same array while the listing holds, so callers may key memos on it; never modified. */
  list(globs?: readonly CgroupGlob[]): readonly string[] {
    const watch = this.watch;
    if (!watch?.active) return this.walk(globs);
    const key = globs ? globs.map((g) => g.source).join('\n') : '';
    const now = performance.now();
    const known = this.listings.get(key);
    if (known && known.version === watch.treeVersion() && now - known.at < TRUST_MS)
      return known.paths;
    const version = watch.treeVersion();
    const paths = this.walk(globs);
    this.listings.set(key, { at: now, version, paths });
    // Watch what every recent listing holds. Directories watched only from
    // now on bump the tree version, so listings (this one too) are walked
    // once more before they are trusted.
    const dirs = new Set<string>();
    for (const [k, l] of this.listings) {
      if (now - l.at >= TRUST_MS) this.listings.delete(k);
      else for (const p of l.paths) dirs.add(cgroupDir(this.root, p));
    }
    watch.watchOnly(dirs);
    return paths;
  }

  /**
   * Changes whenever a memcg may have been made or removed where the
   * listings reach; undefined when the driver cannot tell without looking.
   */
  treeVersion(): number | undefined {
    return this.watch?.active && this.listings.size > 0 ? this.watch.treeVersion() : undefined;
  }

  /** As treeVersion, and also changes whenever a limit is written. */
  limitsVersion(): number | undefined {
    return this.watch?.active && this.listings.size > 0 ? this.watch.settingsVersion() : undefined;
  }
}
