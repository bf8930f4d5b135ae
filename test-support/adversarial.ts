import { Writable } from 'node:stream';
import fc from 'fast-check';
import { pino, type Logger } from 'pino';

/**
 * Shared pieces of the adversarial suites (packages/gateway/test/adversarial): a logger that records
 * what the server logs at error level, the fuzzing parameters, and arbitraries for hostile values.
 */

/**
 * fast-check parameters of every adversarial property: a fixed seed and a bounded number of runs.
 * To explore, FUZZ_SEED=n picks another sequence and FUZZ_RUNS_FACTOR=k multiplies the runs; fast-check
 * prints the seed, the path and the shrunk counterexample of a failure.
 */
export function fuzzParameters(numRuns: number, stream = 0): { seed: number; numRuns: number; endOnFailure: true } {
  const seed = Number(process.env.FUZZ_SEED || 20261204);
  const factor = Number(process.env.FUZZ_RUNS_FACTOR || 1);
  // `stream` gives each property of a file its own sequence from the same seed.
  return { seed: (Number.isSafeInteger(seed) ? seed : 20261204) + stream, numRuns: Math.ceil(numRuns * (factor > 0 ? factor : 1)), endOnFailure: true };
}

export interface LogRecord {
  level: number;
  msg?: string;
  err?: { type?: string; message?: string; stack?: string };
  [key: string]: unknown;
}

/**
 * A pino logger for a server under test: `errors` keeps every record at error level or above, `records`
 * every record at `level` or above.
 */
export function capturingLogger(level = 'error'): { logger: Logger; errors: LogRecord[]; records: LogRecord[] } {
  const errors: LogRecord[] = [];
  const records: LogRecord[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        const record = JSON.parse(line) as LogRecord;
        records.push(record);
        if (record.level >= 50) errors.push(record);
      }
      done();
    },
  });
  return { logger: pino({ level }, sink), errors, records };
}

/** Strings that have broken parsers, renderers and lookups elsewhere. */
const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\uD800',
  '\uDFFF',
  'a\uDBFFb',
  '\u202Eevil\u202C',
  '\u200B',
  '\u200D\u200C\uFEFF',
  '\u0645\u0631\u062D\u0628\u0627',
  '👩‍👩‍👧‍👦',
  'Z͑ͫ̓ͪ̂ͫ̽͏̴̙̤̞͉͚̯̞̠͍',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'prototype',
  '$seq',
  '$frame',
  '*',
  '../../etc/passwd',
  '%00',
  '<script>alert(1)</script>',
  '{"action":"ping"}',
  'null',
  'NaN',
];

/** Object keys that collide with object internals or with the store's placeholders. */
export const RESERVED_KEYS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '$seq', '$frame'] as const;

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  // Huge, but short of the frame limit: an oversized frame is a separate case (the sender is closed).
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 24_000 }).map((n) => 'x'.repeat(n)) },
);

export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(-0, -1, 0, 0.5, 1, 2 ** 31, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 5e-324, Number.MAX_VALUE),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Any JSON value, with hostile strings and numbers, reserved keys, and nesting up to `maxDepth`. */
export function hostileJson(maxDepth = 4): fc.Arbitrary<unknown> {
  const { value } = fc.letrec<{ value: unknown }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth },
      fc.constant(null),
      fc.boolean(),
      hostileNumber,
      hostileString,
      fc.array(tie('value'), { maxLength: 5 }),
      fc.dictionary(fc.oneof(fc.constantFrom(...RESERVED_KEYS), hostileString), tie('value'), { maxKeys: 5 }),
    ),
  }));
  return value;
}

/** Text of a JSON object whose first key is a literal `"key"` (a JS object literal would not keep `__proto__`). */
export function withRawKey(json: string, key: string, value: unknown): string {
  if (!json.startsWith('{')) return json;
  const rest = json.slice(1);
  return `{${JSON.stringify(key)}:${JSON.stringify(value) ?? 'null'}${rest === '}' ? '' : ','}${rest}`;
}
