// The enforcer wired to the state directory: originals and the kernel-OOM
// list persist in state.json with the rest of the agent's state.
import type { MemcgDriver } from '../cgroup/types.ts';
import { emptyState, type StateStore } from '../state/store.ts';
import { Enforcer } from './apply.ts';

export function enforcerApplier(driver: MemcgDriver, store: StateStore): Enforcer {
  const saved = store.load() ?? emptyState();
  return new Enforcer(driver, {
    state: { originals: saved.originals, oomKillDisabled: saved.oomKillDisabled },
    persist: (s) => {
      // Read-modify-write: the engine keeps the policy fields of the same file.
      const current = store.load() ?? emptyState();
      store.save({ ...current, originals: s.originals, oomKillDisabled: s.oomKillDisabled });
    },
  });
}
