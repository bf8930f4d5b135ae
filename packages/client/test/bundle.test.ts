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
    // Where the bytes come from, for whoever has to make room under the bound.
    const output = Object.values(result.metafile.outputs)[0]!;
    const largest = Object.entries(output.inputs)
      .sort(([, a], [, b]) => b.bytesInOutput - a.bytesInOutput)
      .slice(0, 8)
      .map(([input, { bytesInOutput }]) => `${input.replace(/^.*packages\//, '')} ${bytesInOutput}`);
    console.log(`largest inputs (minified bytes): ${largest.join(', ')}`);
    // The bound issue 16 sets for the client alone.
    expect(gzip).toBeLessThan(8 * 1024);
  });
});
