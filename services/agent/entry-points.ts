// Where the agent's processes start from. The agent ships as bundles
// (dist/agent/*.mjs, built by `npm run gen`), one per process, so that no
// process pays for tsx's loader or for code it never runs; from the sources
// (tests, development) the same entry points run through tsx.
import { fileURLToPath } from 'node:url';

export type EntryPoint = 'worker' | 'policy-check';

/** The TypeScript source of each bundle, relative to services/agent. */
export const ENTRY_SOURCES: Record<EntryPoint | 'supervisor', string> = {
  supervisor: 'supervisor/main.ts',
  worker: 'worker-main.ts',
  'policy-check': 'policy-check/child-main.ts',
};

/** True inside a bundle: esbuild gives it an .mjs URL. */
const bundled = import.meta.url.endsWith('.mjs');

/**
 * Node flags per process. The worker is long-lived, small and mostly idle:
 * - 1 MiB semi-spaces instead of V8's 16 MiB: it allocates little per tick,
 *   and the larger young generation only made its RSS ~10 MB larger;
 * - --lite-mode (no optimising compilers): another ~10 MB less, at the same
 *   CPU time in bench:agent (what TurboFan saved on ticks it spent compiling
 *   on background threads).
 */
const NODE_FLAGS: Record<EntryPoint, string[]> = {
  worker: ['--max-semi-space-size=1', '--lite-mode'],
  'policy-check': [],
};

/** The module to fork for `name`, and the Node flags it needs. */
export function entryPoint(name: EntryPoint): { module: string; execArgv: string[] } {
  if (bundled)
    return {
      module: fileURLToPath(new URL(`./${name}.mjs`, import.meta.url)),
      execArgv: NODE_FLAGS[name],
    };
  return {
    module: fileURLToPath(new URL(`./${ENTRY_SOURCES[name]}`, import.meta.url)),
    // tsx is found from here, not from the working directory.
    execArgv: [...NODE_FLAGS[name], '--import', import.meta.resolve('tsx')],
  };
}
