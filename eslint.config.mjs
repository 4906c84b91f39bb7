// ESLint: typescript-eslint's recommended rules (syntax only, no type
// information: the whole tree lints in seconds) over every TypeScript file.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.test-output/**', 'runs/**', 'models/**', 'data/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // `_`-prefixed names mark parameters kept for a signature.
      // Prettier keeps code to 120 columns; this holds comments to it too (long messages and test names may run on).
      'max-len': [
        'error',
        { code: 120, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreUrls: true, ignoreRegExpLiterals: true },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    files: ['webview-ui/**/*.ts', 'test/webview/**/*.ts', 'test/e2e/**/*.ts'],
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
  },
  // Plain JavaScript: the CommonJS launcher (bin/) and scripts load with require().
  { files: ['**/*.js', '**/*.cjs'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  // The browser-test harness page runs in Chromium.
  { files: ['test/webview/harness/**/*.js'], languageOptions: { globals: { ...globals.browser } } },
);
