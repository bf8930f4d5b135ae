import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

describe('browser bundle', () => {
  it('bundles for the browser with no Node built-ins and no schema library, and reports its size', async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL('../src/index.ts', import.meta.url))],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      write: false,
      conditions: ['source'],
      metafile: true,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    const code = result.outputFiles[0]!.text;
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((input) => input.includes('node_modules/zod'))).toBe(false);
    expect(inputs.some((input) => input.includes('node_modules/ws'))).toBe(false);
    expect(code).not.toMatch(/from\s*["']node:/);
    expect(code).not.toMatch(/require\(/);
    const gzip = gzipSync(code).length;
    console.log(`@classwire/client browser bundle: ${code.length} bytes minified, ${gzip} bytes gzipped`);
    expect(gzip).toBeLessThan(8 * 1024);
  });
});
