// @ts-check
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import pluginVue from 'eslint-plugin-vue';

/**
 * Package boundaries (docs/architecture.md): the packages of ours that a package must never import, by
 * name or by a relative path into their sources.
 */
function forbidPackages(names, message) {
  return [{ regex: `^@classwire/(${names.join('|')})(/|$)`, message }, forbidSourcesOf(names, message)];
}

function forbidSourcesOf(names, message) {
  return { regex: `(^|/)(${names.join('|')})/src(/|$)`, message };
}

/** The runtimes, and the CLI that assembles them. */
const RUNTIMES = ['gateway', 'aws', 'apigw-emulator', 'cli'];

const NODE_BUILTINS = { regex: `^(node:.*|${builtinModules.join('|')})$`, message: 'protocol runs in browsers: no Node modules' };

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', 'test-output/**', '**/public/**', 'packages/aws/asset/**', 'packages/aws/cdk.out/**'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-restricted-syntax': ['error', { selector: "CallExpression[callee.property.name='only']", message: 'no focused tests' }],
    },
  },
  {
    // The wire format is shared with browsers: no Node globals or modules, and nothing of ours.
    files: ['packages/protocol/src/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', 'process', 'Buffer', 'require', '__dirname'],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            NODE_BUILTINS,
            { regex: '^@classwire/', message: 'protocol is the bottom layer: it imports no package of ours' },
            forbidSourcesOf(['core', 'client', ...RUNTIMES], 'protocol is the bottom layer: it imports no package of ours'),
          ],
        },
      ],
    },
  },
  {
    // Core holds the handlers and ports: no transport code, no runtime.
    files: ['packages/core/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['ws', 'node:http', 'node:net', 'http', 'net'],
          patterns: forbidPackages([...RUNTIMES, 'client', 'records'], 'core never imports a runtime, the client SDK or the records'),
        },
      ],
    },
  },
  {
    // The records sit beside the engine: they use core's ports and the protocol, never a runtime.
    files: ['packages/records/src/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: forbidPackages([...RUNTIMES, 'client'], 'records never import a runtime or the client SDK') }],
    },
  },
  {
    // The SDK runs in browsers and sees the server only through the wire format.
    files: ['packages/client/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^@classwire/(?!protocol/wire$)', message: 'the client imports only @classwire/protocol/wire (no server code, no schema library)' },
            forbidSourcesOf(['core', ...RUNTIMES], 'the client imports only @classwire/protocol/wire'),
          ],
        },
      ],
    },
  },
  {
    // The framework bindings run in browsers, on the SDK's public API and the protocol's browser-safe entries.
    files: ['packages/vue/src/**/*.ts', 'packages/react/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: '@classwire/protocol', message: 'the bindings use @classwire/protocol/wire or /classroom (no schema library)' }],
          patterns: [{ ...NODE_BUILTINS, message: 'the bindings run in browsers: no Node modules' }, ...forbidPackages(['core', ...RUNTIMES], 'the bindings use the client SDK, never server code')],
        },
      ],
    },
  },
  {
    // The classroom app talks to the server through the SDK only.
    files: ['apps/classroom/src/**/*.ts', 'apps/classroom/src/**/*.vue'],
    rules: {
      'no-restricted-imports': ['error', { patterns: forbidPackages(['core', 'records', ...RUNTIMES], 'the app uses the client SDK, never server code') }],
    },
  },
  {
    // The self-hosted gateway does not ship the AWS runtime (nor the emulator that runs it).
    files: ['packages/gateway/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: forbidPackages(['aws', 'apigw-emulator', 'cli', 'client'], 'the gateway never imports the AWS runtime, the emulator, the CLI or the client SDK') },
      ],
    },
  },
  {
    // The AWS runtime does not depend on the self-hosted one.
    files: ['packages/aws/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: forbidPackages(['gateway', 'apigw-emulator', 'cli', 'client'], 'the AWS runtime never imports the gateway, the emulator, the CLI or the client SDK') },
      ],
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  // The classroom app's single-file components: Vue's rules, TypeScript in <script setup>. Type-aware
  // rules stay on the .ts files (vue-tsc typechecks the components).
  ...pluginVue.configs['flat/recommended'].map((config) => ({ ...config, files: ['apps/classroom/src/**/*.vue'] })),
  {
    files: ['apps/classroom/src/**/*.vue'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.vue'], projectService: false, sourceType: 'module' },
    },
  },
  {
    files: ['apps/classroom/src/**/*.vue'],
    rules: {
      ...pluginVue.configs['no-layout-rules'].rules,
      // User text is rendered by interpolation only: never as HTML.
      'vue/no-v-html': 'error',
      'vue/no-v-text-v-html-on-component': 'error',
      // vue-tsc resolves names (DOM globals included); ESLint's scope analysis does not know them.
      'no-undef': 'off',
    },
  },
);
