import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

/**
 * The package boundaries of docs/architecture.md are ESLint rules (eslint.config.js). These cases run the
 * project's own config on one-line sources placed in each package, so a rule that stops matching fails
 * here rather than letting a forbidden import through silently.
 */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// Type information plays no part in import restrictions; without it the files need not exist.
const eslint = new ESLint({ cwd: ROOT, overrideConfig: tseslint.configs.disableTypeChecked });

async function restrictedImports(file: string, specifier: string): Promise<string[]> {
  const statement = `import '${specifier}';\n`;
  const source = file.endsWith('.vue') ? `<script setup lang="ts">\n${statement}</script>\n` : statement;
  const [result] = await eslint.lintText(source, { filePath: `${ROOT}${file}` });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const PROTOCOL = 'packages/protocol/src/boundary-probe.ts';
const CORE = 'packages/core/src/boundary-probe.ts';
const CLIENT = 'packages/client/src/boundary-probe.ts';
const APP = 'apps/classroom/src/state/boundary-probe.ts';
const APP_COMPONENT = 'apps/classroom/src/components/BoundaryProbe.vue';
const GATEWAY = 'packages/gateway/src/boundary-probe.ts';
const AWS = 'packages/aws/src/boundary-probe.ts';
const VUE = 'packages/vue/src/boundary-probe.ts';
const REACT = 'packages/react/src/boundary-probe.ts';
const RECORDS = 'packages/records/src/boundary-probe.ts';

describe('package boundaries (lint)', () => {
  it.each([
    [PROTOCOL, '@classwire/core'],
    [PROTOCOL, '@classwire/client'],
    [PROTOCOL, 'node:fs'],
    [PROTOCOL, 'fs'],
    [PROTOCOL, '../../core/src/engine.js'],
    [CORE, '@classwire/gateway'],
    [CORE, '@classwire/aws'],
    [CORE, '@classwire/client'],
    [CORE, '../../gateway/src/index.js'],
    [CORE, 'ws'],
    [CORE, '@classwire/cli'],
    [CLIENT, '@classwire/core'],
    [CLIENT, '@classwire/gateway'],
    [CLIENT, '@classwire/aws/handlers'],
    [CLIENT, '@classwire/protocol'],
    [APP, '@classwire/core'],
    [APP, '@classwire/gateway'],
    [APP, '@classwire/apigw-emulator'],
    [APP, '../../../../packages/aws/src/index.js'],
    [APP_COMPONENT, '@classwire/core'],
    [GATEWAY, '@classwire/aws'],
    [GATEWAY, '@classwire/client'],
    [GATEWAY, '@classwire/apigw-emulator'],
    [AWS, '@classwire/gateway'],
    [AWS, '@classwire/client'],
    [AWS, '../../apigw-emulator/src/index.js'],
    [VUE, '@classwire/core'],
    [VUE, '@classwire/gateway'],
    [VUE, '@classwire/protocol'],
    [VUE, 'node:events'],
    [REACT, '@classwire/core'],
    [REACT, '../../aws/src/index.js'],
    [REACT, '@classwire/protocol'],
    [CORE, '@classwire/records'],
    [APP, '@classwire/records'],
    [RECORDS, '@classwire/gateway'],
    [RECORDS, '@classwire/client'],
    [RECORDS, '../../gateway/src/index.js'],
  ])('%s may not import %s', async (file, specifier) => {
    expect(await restrictedImports(file, specifier)).toHaveLength(1);
  });

  it.each([
    [PROTOCOL, 'zod'],
    [PROTOCOL, './limits.js'],
    [CORE, '@classwire/protocol'],
    [CLIENT, '@classwire/protocol/wire'],
    [CLIENT, 'ws'],
    [APP, '@classwire/client'],
    [APP_COMPONENT, '@classwire/client'],
    [GATEWAY, '@classwire/core'],
    [AWS, '@classwire/core'],
    [VUE, '@classwire/client'],
    [VUE, '@classwire/protocol/classroom'],
    [VUE, 'vue'],
    [REACT, '@classwire/client'],
    [REACT, '@classwire/protocol/classroom'],
    [REACT, 'react'],
    [RECORDS, '@classwire/core'],
    [GATEWAY, '@classwire/records'],
  ])('%s may import %s', async (file, specifier) => {
    expect(await restrictedImports(file, specifier)).toEqual([]);
  });
});
