export { openRecordsDb, type DatabaseTarget, type RecordsDb } from './database.js';
export { RecordsStore, type Cursor, type Gap, type LogEntry, type RecordedEntry, type RecordHook } from './store.js';
export { Recorder, type RecorderLogger, type RecorderOptions } from './recorder.js';
export { createRecordsApi, MAX_PAGE, type RecordsApiOptions, type RecordsPrincipal } from './http.js';
export { DEV_DATA_DIR, RECORDS_ENV, RecordsService, recordsSettings, type RecordsDeps, type RecordsLogger, type RecordsSettings } from './service.js';
export { presenceAttendance } from './webhooks-attendance.js';
export { DEFAULT_WEBHOOK_EVENTS, WEBHOOK_ENV, WEBHOOK_TYPES, matchesPattern, webhookSettings, type WebhookEndpoint, type WebhookSettings } from './webhooks-config.js';
export { WebhookDispatcher, exponentialBackoff, type WebhookDispatcherOptions } from './webhooks-dispatcher.js';
export { WebhookDeadLetters, WebhookOutbox, signWebhook, webhookId, type AttendanceSummary, type AttendanceSummaryFn, type AttendeeSummary, type DeadLetter, type WebhookEvent } from './webhooks.js';
