/**
 * Bundles the Lambda handlers (src/lambda.ts, and src/records-lambda.ts for the records functions) with
 * esbuild into ESM files for Node 24 on arm64 Lambda, next to the Redis Lua scripts the core reads at load
 * time: `<outdir>/{index.mjs,records.mjs,lua/*.lua}`. The CDK app
 * calls it on every synth, so `cdk synth` from a fresh checkout needs no prior build, no Docker and no
 * network. Run alone: `npm run bundle -w packages/aws [outdir]`.
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** The package's root, the same from src/cdk and from dist/cdk. */
const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
const luaDir = fileURLToPath(new URL('../../../core/src/redis/lua/', import.meta.url));

/** Where `cdk synth` puts the bundle unless told otherwise (ignored by git). */
export const DEFAULT_ASSET_DIR = join(packageRoot, 'asset', 'lambda');

export async function bundleLambdaHandlers(outdir: string = DEFAULT_ASSET_DIR): Promise<string> {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(join(outdir, 'lua'), { recursive: true });
  await build({
    // The WebSocket functions' entry, and the records functions' (records.mjs: pg and kysely only there).
    entryPoints: { index: join(packageRoot, 'src', 'lambda.ts'), records: join(packageRoot, 'src', 'records-lambda.ts') },
    outdir,
    outExtension: { '.js': '.mjs' },
    // The records functions use Postgres only; the embedded database is imported lazily and never here.
    external: ['@electric-sql/pglite'],
    bundle: true,
    platform: 'node',
    // The same Node line as the stack's default runtime (stack.ts).
    target: 'node24',
    format: 'esm',
    // Workspace packages resolve to their TypeScript sources: no prior build needed.
    conditions: ['source'],
    // CommonJS dependencies (ioredis) call require() for Node built-ins.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    minify: true,
    keepNames: true,
    sourcemap: 'linked',
    legalComments: 'none',
    logLevel: 'warning',
  });
  const scripts = readdirSync(luaDir).filter((name) => name.endsWith('.lua'));
  if (scripts.length === 0) throw new Error(`no Lua scripts in ${luaDir}`);
  for (const name of scripts) copyFileSync(join(luaDir, name), join(outdir, 'lua', name));
  return outdir;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const outdir = await bundleLambdaHandlers(process.argv[2] === undefined ? undefined : resolve(process.argv[2]));
  process.stdout.write(`bundled the Lambda handlers into ${outdir}\n`);
}
