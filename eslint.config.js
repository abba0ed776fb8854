// ESLint finds what the type checker lets through: promises nobody awaits or catches, async
// functions where a callback's result is ignored, import cycles, imports that go up the layers.
// It is not a style guide: layout is left to the formatter.
import js from '@eslint/js'
import { defineConfig } from 'eslint/config'
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'
import importX from 'eslint-plugin-import-x'
import tseslint from 'typescript-eslint'

// The layers of src/, lowest first (docs/ARCHITECTURE.md, "Layers"): a module imports from its own
// layer and those below, never from one above. oauth/ is below pipeline/: a route's Basic and
// Bearer checks use the authorization server's client verification and access tokens. Every file
// at src/'s root but errors.ts is wiring (app, server, cli, ...), the top layer.
const LAYERS = [
  ['src/errors.ts', 'src/net/**', 'src/config/**', 'src/store/**', 'src/policy/**'],
  ['src/http/**'],
  ['src/oauth/**'],
  ['src/pipeline/**'],
  ['src/proxy/**'],
  ['src/*.ts'],
]
const layering = LAYERS.slice(0, -1).map((layer, i) => ({
  target: layer,
  from: LAYERS.slice(i + 1).flat(),
  except: ['**/src/errors.ts'],
  message: 'imports go down the layers only (docs/ARCHITECTURE.md, "Layers")',
}))

export default defineConfig(
  { ignores: ['dist/', 'dist-scripts/', 'coverage/'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked, importX.flatConfigs.typescript],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })] },
    rules: {
      // The two rules this linter is here for (both in recommendedTypeChecked; named to stay on).
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // A cycle makes a module's exports undefined while the other one loads, and blurs the layers.
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': ['error', { zones: layering, basePath: import.meta.dirname }],
      // Off: `async` on a function without `await` is how the memory store and limiters keep the
      // promise-returning interfaces they share with Redis, and it turns their throws into
      // rejections; dropping it would change that behaviour and find nothing.
      '@typescript-eslint/require-await': 'off',
      // `const { d: _d, ...publicJwk } = jwk` drops members on purpose: siblings of a rest element
      // count as used.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
    },
  },
  {
    // Off in tests: they read JSON bodies (`await res.json()`, typed any) and assert on them; typing
    // each body would be churn, and a wrong guess fails the test anyway. src/ keeps them.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  { files: ['**/*.js'], extends: [js.configs.recommended] },
)
