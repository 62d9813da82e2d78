// Lint: ESLint's and typescript-eslint's recommended rules (syntax-only, fast),
// with the few this code base breaks on purpose turned down and explained.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {
    ignores: [
      '.tmp/',
      'examples/readme/',
      'node_modules/',
      'dist/',
      'coverage/',
      'spec/pds/.install/',
      'spec/runtimes/.install/',
      'spec/pds/toolchain/',
      'examples/lexicons/',
      'docs/api/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      // Node for the scripts and specs; the library itself uses only what every fetch runtime has.
      globals: { ...globals.node, ...globals.browser },
    },
    rules: {
      // Unused arguments keep a signature readable (`(_key, fn) => …`); prefix them with _.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  {
    // Benchmarks and specs read untyped JSON and poke at internals on purpose.
    files: ['bench/**', 'spec/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
)
