export { openRecordsDb, type DatabaseTarget, type RecordsDb } from './database.js';
export { DEFAULT_IDLE_MS, RecordsStore, type Cursor, type Gap, type LogEntry } from './store.js';
export { attendanceCsv, computeAttendance, DEFAULT_RESUME_GRACE_MS, type Attendance, type AttendanceInterval, type AttendanceOptions, type Attendee } from './attendance.js';
export { Recorder, type RecorderLogger, type RecorderOptions } from './recorder.js';
export { createRecordsApi, MAX_PAGE, type RecordsApiOptions, type RecordsPrincipal } from './http.js';
export { DEV_DATA_DIR, RECORDS_ENV, RecordsService, recordsSettings, type RecordsDeps, type RecordsLogger, type RecordsSettings } from './service.js';
