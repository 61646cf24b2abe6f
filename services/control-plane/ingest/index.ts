// Report ingestion: agents' outcome events, from the gRPC server through a
// BullMQ queue to outcome_events in PostgreSQL.
export {
  createReportQueue,
  REPORT_QUEUE,
  type ReportBatchIn,
  type ReportQueueOptions,
  type ReportSink,
} from './queue.ts';
export {
  startReportIngester,
  type ReportIngester,
  type ReportIngesterOptions,
} from './ingester.ts';
export { InvalidReportError } from './invalid-report-error.ts';
export { INVALID_KIND, MAX_JOB_EVENTS } from './events.ts';
export { INSERT_EVENTS_SQL, insertEvents, toColumns } from './insert.ts';
