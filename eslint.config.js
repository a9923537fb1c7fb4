import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'manager/ui/dist/',
      '.grove/',
      'coverage/',
      '*.config.js',
      'eslint.config.js',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['bin/grove.js', 'e2e/*.js', 'e2e/support/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
    },
  },
  {
    // The admin web UI runs in the browser (its own tsconfig with the DOM lib). Markup is
    // built only with createElement/textContent/setAttribute, so data never parses as HTML.
    files: ['manager/ui/src/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { property: 'innerHTML', message: 'Build elements with h() (textContent).' },
        { property: 'outerHTML', message: 'Build elements with h() (textContent).' },
        { property: 'insertAdjacentHTML', message: 'Build elements with h() (textContent).' },
        { object: 'document', property: 'write', message: 'Build elements with h().' },
      ],
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
