// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import pluginVue from 'eslint-plugin-vue';

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
    // The wire format is shared with browsers: no Node globals.
    files: ['packages/protocol/src/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', 'process', 'Buffer', 'require', '__dirname'],
    },
  },
  {
    // Core holds no transport code.
    files: ['packages/core/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: ['ws', 'node:http', 'node:net', 'http', 'net'], patterns: ['@classwire/gateway*'] },
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
