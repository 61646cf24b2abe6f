// The agent's outcome events: types, ids, the log (ring + NDJSON file).
export type * from './types.ts';
export { EVENT_KINDS } from './types.ts';
export { createIdGenerator, idTime, isEventId, type IdGenerator } from './id.ts';
export {
  createEventLog,
  DEFAULT_RING_CAPACITY,
  type EventListener,
  type EventLog,
  type EventLogOptions,
} from './log.ts';
export { DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_FILES, type SinceResult } from './file.ts';
