/**
 * The API reference (`npm run docs:api`, typedoc.json) generates from the published packages' sources
 * without an error or warning (TypeDoc treats warnings as errors here: a broken `{@link}`, an entry point
 * that no longer resolves). Run without writing the HTML.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

describe('API reference', () => {
  it('generates from the sources without errors or warnings', async () => {
    const result = await new Promise<{ code: number; output: string }>((resolve) => {
      execFile(process.execPath, ['node_modules/typedoc/bin/typedoc', '--emit', 'none'], { cwd: ROOT }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : (error.code as number | undefined) ?? 1, output: `${stdout}${stderr}` });
      });
    });
    expect(result.output).not.toMatch(/\[(warning|error)\]/);
    expect(result.code).toBe(0);
  }, 120_000);
});
