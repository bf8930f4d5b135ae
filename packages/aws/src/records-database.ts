import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { StoreUnavailableError, type HistoryArchive } from '@classwire/core';
import type { RecordsDb, RecordsStore, SessionSettings } from '@classwire/records';
import { z } from 'zod';
import { LambdaConfigError, type LambdaConfig } from './config.js';

/**
 * Where the records database is, for every function that opens it (the records functions, and the
 * engine's `$default` for history beyond the live log): one set of variables, one way of reading them.
 */
export const DATABASE_ENV = {
  CLASSWIRE_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'CLASSWIRE_DATABASE_URL must start with postgres://').optional(),
  CLASSWIRE_DATABASE_SECRET_ARN: z.string().startsWith('arn:').optional(),
  CLASSWIRE_DATABASE_HOST: z.string().min(1).max(255).optional(),
};

/** Where the database is: a URL, or an RDS secret (username, password, host, port, dbname) with an optional host override (the RDS Proxy). */
export type DatabaseSource = { url: string } | { secretArn: string; host: string | undefined };

/** How long `$default` waits for the records (opening included) before answering `unavailable`. */
export const ARCHIVE_TIMEOUT_MS = 5_000;

/** The configured database, or undefined when none is. */
export function databaseSource(e: { CLASSWIRE_DATABASE_URL?: string | undefined; CLASSWIRE_DATABASE_SECRET_ARN?: string | undefined; CLASSWIRE_DATABASE_HOST?: string | undefined }): DatabaseSource | undefined {
  if (e.CLASSWIRE_DATABASE_URL !== undefined) return { url: e.CLASSWIRE_DATABASE_URL };
  if (e.CLASSWIRE_DATABASE_SECRET_ARN !== undefined) return { secretArn: e.CLASSWIRE_DATABASE_SECRET_ARN, host: e.CLASSWIRE_DATABASE_HOST };
  return undefined;
}

/** The database of one execution environment: opened on first use, kept while warm. */
export interface LazyRecordsDb {
  get(): Promise<RecordsDb>;
  /** Releases the pool (tests; Lambda just freezes). */
  close(): Promise<void>;
}

/**
 * How a function opens the records. `migrate-and-write`: the records functions (recorder, scheduled
 * jobs, records API), which bring the schema up to date and write. `read-only`: the engine's `$default`,
 * which parses every client's frames and only pages history: no migrations, read-only sessions, and
 * `unavailable` until the records functions have migrated the schema.
 */
export type RecordsAccess = 'read-only' | 'migrate-and-write';

/**
 * The stack's database is its RDS Proxy (`CLASSWIRE_DATABASE_HOST`), which refuses session settings in a
 * connection's startup: the proxy's InitQuery sets the records' bounds there. A URL, or a secret without
 * the proxy's host, reaches Postgres directly, which takes them at connection start.
 */
export function sessionSettingsFor(source: DatabaseSource): SessionSettings {
  return 'secretArn' in source && source.host !== undefined ? 'proxy' : 'connection-start';
}

export function lazyRecordsDb(source: DatabaseSource, readSecret: (arn: string) => Promise<string>, access: RecordsAccess): LazyRecordsDb {
  let database: Promise<RecordsDb> | undefined;
  return {
    get() {
      database ??= databaseUrl(source, readSecret)
        .then(async (url) => {
          const { openRecordsDb, openRecordsReader } = await records();
          const options = { settings: sessionSettingsFor(source) };
          return access === 'read-only' ? openRecordsReader({ url }, options) : openRecordsDb({ url }, options);
        })
        .catch((error: unknown) => {
          // Not cached: the next invocation tries again (the database may be resuming from zero capacity).
          database = undefined;
          throw error;
        });
      return database;
    },
    async close() {
      const opened = database;
      database = undefined;
      await opened?.then((db) => db.close()).catch(() => undefined);
    },
  };
}

/**
 * The engine's history archive on Lambda: the class records, opened by the first `history` request that
 * reaches past the live log (a container that never pages history never connects) and kept while the
 * container is warm. A database that cannot be opened or queried is `StoreUnavailableError`, which the
 * engine answers as `unavailable` (retryable); the next request tries to open it again. So is a schema
 * the records functions have not migrated yet (`RecordsSchemaNotMigratedError`), and one that
 * does not answer within `timeoutMs`: a proxy or cluster that drops packets must not hold the member's
 * request until the integration times out with no answer at all.
 */
export function lambdaArchive(database: LazyRecordsDb, timeoutMs: number = ARCHIVE_TIMEOUT_MS): HistoryArchive {
  let cached: { db: RecordsDb; store: RecordsStore } | undefined;
  let archive: Promise<HistoryArchive> | undefined;
  const load = async (): Promise<HistoryArchive> => {
    const { RecordsStore, recordsArchive } = await records();
    return recordsArchive(async () => {
      const db = await database.get();
      if (cached?.db !== db) cached = { db, store: new RecordsStore(db.db) };
      return cached.store;
    });
  };
  return {
    async before(room, epoch, before, limit) {
      // A failed load is not kept: the next request loads again.
      archive ??= load().catch((error: unknown) => {
        archive = undefined;
        throw error;
      });
      const loaded = archive;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new StoreUnavailableError(`the class records did not answer within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        return await Promise.race([loaded.then((a) => a.before(room, epoch, before, limit)), late]);
      } catch (error) {
        if (error instanceof StoreUnavailableError) throw error;
        // The records' one classification: an unreachable database is `unavailable` (retry later); any
        // other failure (a bug, such as a write refused by the read-only session: 25006) stays itself
        // and is answered `internal`.
        const isStoreUnreachable = await records().then(
          (loadedRecords) => loadedRecords.isStoreUnreachable,
          () => undefined,
        );
        if (isStoreUnreachable?.(error) === true) throw new StoreUnavailableError('the class records cannot be reached', { cause: error });
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * `@classwire/records` (with pg and kysely) loaded on first use: the engine functions' bundle evaluates
 * it only in a container that pages history from the records, so the others start as fast as before.
 */
const records = () => import('@classwire/records');

const rdsSecret = z.object({
  username: z.string().min(1),
  password: z.string().min(1),
  host: z.string().min(1),
  port: z.coerce.number().int().min(1).max(65_535).default(5432),
  dbname: z.string().min(1).default('postgres'),
});

/** The connection URL: as configured, or built from the RDS secret, over verified TLS (RDS Proxy presents an ACM certificate). */
async function databaseUrl(source: DatabaseSource, readSecret: (arn: string) => Promise<string>): Promise<string> {
  if ('url' in source) return source.url;
  const parsed = rdsSecret.safeParse(JSON.parse(await readSecret(source.secretArn)));
  if (!parsed.success) throw new LambdaConfigError(`the database secret ${source.secretArn} lacks username, password or host`);
  const { username, password, host, port, dbname } = parsed.data;
  return `postgres://${encodeURIComponent(username)}:${encodeURIComponent(password)}@${source.host ?? host}:${port}/${encodeURIComponent(dbname)}?sslmode=verify-full`;
}

/** Reads a Secrets Manager secret's string (one client per execution environment). */
export function secretReader(config: LambdaConfig): (arn: string) => Promise<string> {
  let client: SecretsManagerClient | undefined;
  return async (arn) => {
    client ??= new SecretsManagerClient(config.region === undefined ? {} : { region: config.region });
    const output = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    if (output.SecretString === undefined) throw new Error(`secret ${arn} has no string value`);
    return output.SecretString;
  };
}
