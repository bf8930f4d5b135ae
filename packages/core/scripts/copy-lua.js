// ESM (packages/core is "type": "module"); .js rather than .mjs so eslint's untyped-JS config applies.
// Copies the Redis Lua scripts next to the compiled modules (tsc copies only .ts output):
// src/redis/lua/*.lua -> dist/redis/lua/. Run after `tsc -b`.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { URL } from 'node:url';

const from = new URL('../src/redis/lua/', import.meta.url);
const to = new URL('../dist/redis/lua/', import.meta.url);
mkdirSync(to, { recursive: true });
let copied = 0;
for (const name of readdirSync(from)) {
  if (!name.endsWith('.lua')) continue;
  copyFileSync(new URL(name, from), new URL(name, to));
  copied += 1;
}
if (copied === 0) throw new Error(`no .lua files in ${from.pathname}`);
