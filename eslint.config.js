// ESLint for the viewer (browser ES modules) and its unit tests (Node): `npm run lint`,
// run by `tox -e lint`. Recommended rules, plus what keeps a module script safe to inline
// into the HTML report (report.py concatenates the modules: no name declared twice).
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['node_modules/', '.venv/', '.tox/'] },
  js.configs.recommended,
  {
    files: ['viewer/**/*.js'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.browser } },
    rules: {
      'no-unused-vars': ['error', { args: 'none' }],
      eqeqeq: ['error', 'always'],
      'no-var': 'error',
      'prefer-const': 'error',
      'no-implicit-globals': 'error',
    },
  },
  {
    files: ['tests/js/**/*.{js,mjs}', 'eslint.config.js'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.node } },
  },
];
