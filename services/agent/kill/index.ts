// The killer: carries out kill decisions, re-verifying every pid at kill time.
export {
  createKiller,
  DEFAULT_KILL_TIMEOUT_MS,
  DEFAULT_POLL_MS,
  type Killer,
  type KillerDeps,
} from './killer.ts';
export { START_TIME_TOLERANCE_MS, verifyKillable, type Verdict } from './verify.ts';
