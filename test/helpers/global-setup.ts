// Once per test run: builds the gateway with tsc, so that tests can start it as operators do, as
// its own process (`node .../bin.js`), with its own heap limit and signals. The build goes under
// node_modules/.cache, where Node still finds the project's packages.
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The built bin.js of this checkout. */
    gatehouseBin: string
  }
}

export default function setup(project: TestProject): void {
  const root = join(import.meta.dirname, '..', '..')
  const outDir = join(root, 'node_modules', '.cache', 'gatehouse-test', 'dist')
  execFileSync(
    process.execPath,
    [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', outDir, '--sourceMap', 'false'],
    {
      stdio: 'inherit',
    },
  )
  project.provide('gatehouseBin', join(outDir, 'bin.js'))
}
