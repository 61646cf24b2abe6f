// Host snapshots: what a policy needs read, and reading it.
export { collectSnapshot, relativeCgroup, type CollectDeps } from './collect.ts';
export {
  ALL_NEEDS,
  needsProcessesIn,
  selectMemcgs,
  snapshotNeeds,
  type ProcessNeeds,
  type SnapshotNeeds,
} from './needs.ts';
