export { isStoreUnreachable } from './unavailable.js';
export { recordsArchive } from './archive.js';
export { openRecordsDb, openRecordsReader, RecordsSchemaNotMigratedError, RECORDS_PROXY_INIT_QUERY, type DatabaseTarget, type OpenOptions, type RecordsDb, type SessionSettings } from './database.js';
export { DEFAULT_IDLE_MS, RecordsStore, type Cursor, type Gap, type LogEntry, type RecordedEntry, type RecordHook, type LogReader, type RoomLog, type RecordingWritten } from './store.js';
export { attendanceCsv, computeAttendance, DEFAULT_RESUME_GRACE_MS, type Attendance, type AttendanceInterval, type AttendanceOptions, type Attendee } from './attendance.js';
export { addBacklogs, addCounts, zeroCounts, type RecordingBacklog, type RecordingCounts, type RecordingStats, type WebhookDeliveryCounts, type WebhookDue } from './recording-stats.js';
export { Recorder, type IdleSweep, type RecorderLogger, type RecorderOptions } from './recorder.js';
export {
  createRecordsApi,
  createRecordsHandler,
  credentialsPrincipal,
  recordsErrorResponse,
  recordsFailureResponse,
  RecordsApiError,
  MAX_PAGE,
  type RecordsApiOptions,
  type RecordsDataOptions,
  type RecordsFailureLogger,
  type RecordsHandlerOptions,
  type RecordsPrincipal,
  type RecordsRequest,
  type RecordsResponse,
} from './http.js';
export { DEV_DATA_DIR, MAX_EARLY_ROOMS, MAX_RETENTION_DAYS, RECORDS_ENV, RETENTION_ENV, RETENTION_INTERVAL_MS, RecordsService, recordsSettings, WEBHOOKS_DUE_CAP, retentionCutoff, type RecordsDeps, type RecordsLogger, type RecordsSettings } from './service.js';
export { recordedAttendance } from './webhooks-attendance.js';
export { DEFAULT_WEBHOOK_EVENTS, WEBHOOK_ENV, WEBHOOK_TYPES, matchesPattern, webhookSettings, type WebhookEndpoint, type WebhookSettings } from './webhooks-config.js';
export { WebhookDispatcher, exponentialBackoff, type DispatchCounts, type WebhookDispatcherOptions } from './webhooks-dispatcher.js';
export { WebhookDeadLetters, WebhookOutbox, signWebhook, webhookId, type AttendanceSummary, type AttendanceSummaryFn, type AttendeeSummary, type DeadLetter, type WebhookEvent } from './webhooks.js';
