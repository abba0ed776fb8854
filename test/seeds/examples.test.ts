import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli.js'
import { EXAMPLES } from './helpers.js'

describe('config/examples', () => {
  it('holds one config per seed system, each passing check-config as shipped, with no environment', async () => {
    const files = (await readdir(EXAMPLES)).sort()
    expect(files).toEqual(['django-oauth-toolkit.yaml', 'maxst-passport.yaml', 'mongodb-atlas.yaml', 'pod-shop.yaml'])
    for (const file of files) {
      let stdout = ''
      const code = await runCli(['check-config', join(EXAMPLES, file)], {
        stdin: Readable.from([]),
        stdout: { write: (t: string) => (stdout += t) },
        stderr: { write: () => undefined },
        env: {},
      })
      expect(code, file).toBe(0)
      expect(stdout).toMatch(/^OK: /)
    }
  })
})
