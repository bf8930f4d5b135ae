import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { CLOSE_CODES, ERROR_CODES, shouldReconnect } from '@classwire/protocol';

const DOC_URL = new URL('../../../docs/protocol.md', import.meta.url);

function readProtocolDoc(): string {
  try {
    return readFileSync(DOC_URL, 'utf8');
  } catch (error) {
    throw new Error(`docs/protocol.md must exist and document the error and close code catalogue (${DOC_URL.pathname})`, {
      cause: error,
    });
  }
}

describe('docs/protocol.md catalogue', () => {
  it('lists every error code as `code`', () => {
    const doc = readProtocolDoc();
    const missing = Object.keys(ERROR_CODES).filter((code) => !doc.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });

  it('gives every error code its retry rule and HTTP status from the catalogue', () => {
    const doc = readProtocolDoc();
    const mismatched = Object.entries(ERROR_CODES)
      .filter(([code, entry]) => !doc.includes(`| \`${code}\` | ${entry.retryable ? 'yes' : 'no'} | ${entry.httpStatus} |`))
      .map(([code]) => code);
    expect(mismatched).toEqual([]);
  });

  it('lists every close code as a number', () => {
    const doc = readProtocolDoc();
    const missing = Object.entries(CLOSE_CODES)
      .filter(([, code]) => !new RegExp(`(?<![0-9])${code}(?![0-9])`).test(doc))
      .map(([name, code]) => `${name} (${code})`);
    expect(missing).toEqual([]);
  });
});

describe('error codes', () => {
  it('each has an HTTP error status (4xx or 5xx), and retryable ones are the 429 and 5xx ones', () => {
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      expect(entry.httpStatus, code).toBeGreaterThanOrEqual(400);
      expect(entry.httpStatus, code).toBeLessThan(600);
      expect(entry.retryable, code).toBe(entry.httpStatus === 429 || entry.httpStatus >= 500);
    }
  });
});

describe('close codes', () => {
  it('every close code is unique', () => {
    const values = Object.values(CLOSE_CODES);
    expect(new Set(values).size).toBe(values.length);
  });

  it('shouldReconnect is true for 4000-4499 and false for 4500-4999', () => {
    for (let code = 4000; code <= 4499; code++) expect(shouldReconnect(code), String(code)).toBe(true);
    for (let code = 4500; code <= 4999; code++) expect(shouldReconnect(code), String(code)).toBe(false);
  });

  it('classifies the named application close codes by their range', () => {
    for (const [name, code] of Object.entries(CLOSE_CODES)) {
      if (code >= 4000 && code <= 4499) expect(shouldReconnect(code), name).toBe(true);
      if (code >= 4500 && code <= 4999) expect(shouldReconnect(code), name).toBe(false);
    }
    expect(shouldReconnect(CLOSE_CODES.rateLimited)).toBe(true);
    expect(shouldReconnect(CLOSE_CODES.unauthorized)).toBe(false);
    expect(shouldReconnect(CLOSE_CODES.classEnded)).toBe(false);
  });

  it('classifies the standard codes as documented', () => {
    expect(shouldReconnect(1000)).toBe(false);
    expect(shouldReconnect(1008)).toBe(false);
    for (const code of [1001, 1002, 1003, 1005, 1006, 1009, 1011, 1012, 1013, 3000]) expect(shouldReconnect(code), String(code)).toBe(true);
  });
});
