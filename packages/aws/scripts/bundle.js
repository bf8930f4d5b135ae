// Bundles the Lambda handlers (src/lambda.ts) with esbuild into one ESM file for Node 20 on arm64 Lambda,
// next to the Redis Lua scripts the core reads at load time: asset/lambda/{index.mjs,lua/*.lua}. The CDK
// stack uses the directory as-is (Code.fromAsset), so synthesis needs neither Docker nor a network.
// Usage: node scripts/bundle.js [outdir]
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { URL, fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = resolve(process.argv[2] ?? join(root, 'asset', 'lambda'));
rmSync(outdir, { recursive: true, force: true });
mkdirSync(join(outdir, 'lua'), { recursive: true });

await build({
  entryPoints: [join(root, 'src', 'lambda.ts')],
  outfile: join(outdir, 'index.mjs'),
  bundle: true,
  platform: 'node',
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

const lua = fileURLToPath(new URL('../../core/src/redis/lua/', import.meta.url));
let copied = 0;
for (const name of readdirSync(lua)) {
  if (!name.endsWith('.lua')) continue;
  copyFileSync(join(lua, name), join(outdir, 'lua', name));
  copied += 1;
}
if (copied === 0) throw new Error(`no Lua scripts in ${lua}`);
process.stdout.write(`bundled the Lambda handlers into ${outdir}\n`);
