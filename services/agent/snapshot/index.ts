// Host snapshots: what a policy needs read, and reading it.
export {
  collectSnapshot,
  emptyStats,
  relativeCgroup,
  type CollectDeps,
  type CollectStats,
  type PruneInput,
} from './collect.ts';
export { prunePlan, usageFloor, type PrunePlan } from './prune.ts';
export {
  ALL_NEEDS,
  needsProcessesIn,
  selectMemcgs,
  snapshotNeeds,
  type ProcessNeeds,
  type SnapshotNeeds,
} from './needs.ts';
