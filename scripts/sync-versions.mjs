// The root package.json's version is the one version of the published packages: this copies it into
// each of them and into their dependencies on one another. `npm run version:sync` after changing it;
// packages/client/test/published-packages.test.ts fails while they differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { stdout } from 'node:process';
import { URL } from 'node:url';

const PUBLISHED = ['protocol', 'client', 'vue', 'react'];

const root = new URL('../', import.meta.url);
const { version } = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
const names = new Set(PUBLISHED.map((name) => `@classwire/${name}`));

for (const name of PUBLISHED) {
  const path = new URL(`packages/${name}/package.json`, root);
  const manifest = JSON.parse(readFileSync(path, 'utf8'));
  manifest.version = version;
  for (const dependency of Object.keys(manifest.dependencies ?? {})) {
    if (names.has(dependency)) manifest.dependencies[dependency] = version;
  }
  writeFileSync(path, `${JSON.stringify(manifest, null, 2)}\n`);
}
stdout.write(`published packages at ${version}\n`);
