import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { parse as parseYaml } from 'yaml'
import { describe, expect, it } from 'vitest'
import { runCli } from '../src/cli.js'
import { loadSigningKeys } from '../src/oauth/keys.js'
import { parseSecretHash, verifySecret, type ScryptHash, type SecretHash } from '../src/config/secret-hash.js'
import { tempDir } from './helpers/index.js'

async function run(argv: string[], stdin = '', env: Record<string, string> = {}) {
  let stdout = ''
  let stderr = ''
  const code = await runCli(argv, {
    stdin: Readable.from([stdin]),
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    env,
  })
  return { code, stdout, stderr }
}

describe('gatehouse hash-secret', () => {
  it('prints only a scrypt hash of stdin (without its newline) on stdout', async () => {
    const { code, stdout } = await run(['hash-secret'], 's3cret\n')
    expect(code).toBe(0)
    expect(stdout).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+\n$/)
    const hash = parseSecretHash(stdout.trim()) as ScryptHash
    expect(await verifySecret('s3cret', hash)).toBe(true)
    expect(await verifySecret('s3cret\n', hash)).toBe(false)
  })

  it('--generated: a fast $sha256$ hash for a machine-made secret, checked in well under a millisecond', async () => {
    const secret = 'k'.repeat(43)
    const { code, stdout } = await run(['hash-secret', '--generated'], secret + '\n')
    expect(code).toBe(0)
    expect(stdout).toMatch(/^\$sha256\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}\n$/)
    const hash = parseSecretHash(stdout.trim()) as SecretHash
    expect(await verifySecret(secret, hash)).toBe(true)
    const started = process.cpuUsage()
    for (let i = 0; i < 100; i++) expect(await verifySecret('wrong'.repeat(9), hash)).toBe(false)
    const { user, system } = process.cpuUsage(started)
    expect((user + system) / 100).toBeLessThan(1_000) // µs of CPU per wrong guess (scrypt ln=15: about 100 ms)
  })

  it("--generated refuses a secret too short to be machine-made: people's secrets get scrypt", async () => {
    const { code, stdout, stderr } = await run(['hash-secret', '--generated'], 'hunter2\n')
    expect(code).toBe(1)
    expect(stdout).toBe('')
    expect(stderr).toContain('without --generated')
  })

  it('refuses an empty secret', async () => {
    const { code, stdout, stderr } = await run(['hash-secret'], '')
    expect(code).toBe(1)
    expect(stdout).toBe('')
    expect(stderr).toContain('empty')
  })
})

describe('gatehouse schema', () => {
  it('prints the JSON Schema that config/gatehouse.schema.json holds, and it accepts every bundled config', async () => {
    const { code, stdout } = await run(['schema'])
    expect(code).toBe(0)
    expect(stdout).toBe(await readFile('config/gatehouse.schema.json', 'utf8')) // regenerate: gatehouse schema > config/gatehouse.schema.json
    const { Ajv } = await import('ajv')
    const validate = new Ajv({ strict: false }).compile(JSON.parse(stdout))
    const { readdir } = await import('node:fs/promises')
    const files = ['config/gatehouse.yaml', ...(await readdir('config/examples')).map((f) => `config/examples/${f}`)]
    for (const file of files) {
      const text = await readFile(file, 'utf8')
      expect(text.split('\n')[0]).toMatch(/^# yaml-language-server: \$schema=(\.\/|\.\.\/)gatehouse\.schema\.json$/)
      expect(validate(parseYaml(text)), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true)
    }
    expect(validate({ server: { prot: 8080 } })).toBe(false) // a typo is caught in the editor too
  })
})

describe('gatehouse check-config', () => {
  it('accepts the bundled example config', async () => {
    const { code, stdout } = await run(['check-config', 'config/gatehouse.yaml'])
    expect(code).toBe(0)
    expect(stdout).toBe('OK: config/gatehouse.yaml (3 routes, 2 clients)\n')
  })

  it('prints every problem with the file and exits non-zero', async () => {
    const file = join(await tempDir(), 'bad.yaml')
    await writeFile(file, 'server:\n  prot: 8080\nroutes:\n  - { id: a, path: /a }\n')
    const { code, stdout, stderr } = await run(['check-config', file])
    expect(code).toBe(1)
    expect(stdout).toBe('')
    expect(stderr).toBe(
      `invalid config ${file}:\n  - line 2: server.prot: unknown key (did you mean port?)\n  - line 4: routes[0]: missing required key "upstream"\n`,
    )
  })

  it('takes the file from GATEHOUSE_CONFIG, and names a file it cannot read', async () => {
    const { code, stderr } = await run(['check-config'], '', { GATEHOUSE_CONFIG: '/nonexistent/gatehouse.yaml' })
    expect(code).toBe(1)
    expect(stderr).toContain('/nonexistent/gatehouse.yaml')
    expect(stderr).toContain('ENOENT')
  })
})

describe('gatehouse gen-key', () => {
  it('prints a private JWK with kid, alg and use, for each algorithm', async () => {
    for (const [alg, kty] of [
      ['ES256', 'EC'],
      ['RS256', 'RSA'],
      ['EdDSA', 'OKP'],
    ] as const) {
      const { code, stdout } = await run(['gen-key', '--alg', alg])
      expect(code).toBe(0)
      expect(JSON.parse(stdout)).toMatchObject({ kty, alg, use: 'sig', kid: expect.any(String), d: expect.any(String) })
    }
  })

  it('writes a key file the gateway loads, readable by its owner only, and never overwrites one', async () => {
    const file = join(await tempDir(), 'signing.jwk')
    expect((await run(['gen-key', '--out', file])).code).toBe(0)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    const keys = await loadSigningKeys('ES256', file)
    expect(keys.kid).toBe(JSON.parse(await readFile(file, 'utf8')).kid)
    const again = await run(['gen-key', '--out', file])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/signing\.jwk exists already; keep it, or add --force to replace it/)
    expect(keys.kid).toBe(JSON.parse(await readFile(file, 'utf8')).kid) // untouched
    const forced = await run(['gen-key', '--out', file, '--force'])
    expect(forced.code).toBe(0)
    expect(JSON.parse(await readFile(file, 'utf8')).kid).not.toBe(keys.kid)
  })

  it('makes the folder of --out, and says how to point the config at the key', async () => {
    const file = join(await tempDir(), 'keys', 'signing.jwk') // keys/ does not exist yet, as in a fresh clone
    const { code, stderr } = await run(['gen-key', '--out', file])
    expect(code).toBe(0)
    expect(stderr).toContain(`keyFile: ${file}`) // absolute: right wherever the config file is
    await expect(loadSigningKeys('ES256', file)).resolves.toBeTruthy()
  })

  it('refuses an algorithm it does not offer', async () => {
    expect((await run(['gen-key', '--alg', 'HS256'])).code).toBe(1)
  })
})

describe('gatehouse new-client', () => {
  it('prints a config entry whose hash verifies the secret it shows once', async () => {
    const { code, stdout, stderr } = await run(['new-client', '--id', 'reporting', '--scopes', 'orders:read,orders:write', '--group', 'acme'])
    expect(code).toBe(0)
    expect(stderr).toContain('add the entry below under `clients:`')
    const secret = /shown once[^:]*: (\S+)/.exec(stderr)![1]!
    expect(stdout).not.toContain(secret) // the entry can be appended to a config without the secret
    expect(stdout).toMatch(/^ {2}- id: "reporting"\n/)
    const [entry] = parseYaml(stdout) as [{ id: string; secretHash: string; grants: string[]; scopes: string[]; group: string }]
    expect(entry).toMatchObject({ id: 'reporting', grants: ['client_credentials'], scopes: ['orders:read', 'orders:write'], group: 'acme' })
    expect(entry.secretHash).toMatch(/^\$sha256\$/) // generated: 256 random bits need no slow hash
    expect(await verifySecret(secret, parseSecretHash(entry.secretHash) as SecretHash)).toBe(true)
  })
})

describe('gatehouse (start)', () => {
  it('says which setting to change when the port is taken', async () => {
    const { createServer } = await import('node:net')
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as import('node:net').AddressInfo).port
    const file = join(await tempDir(), 'gatehouse.yaml')
    await writeFile(file, `server: { host: 127.0.0.1, port: ${port}, logLevel: silent }\n`)
    const { code, stderr } = await run(['--config', file])
    taken.close()
    expect(code).toBe(1)
    expect(stderr).toBe(`gatehouse: 127.0.0.1:${port} is already in use by another process; set PORT=... or server.port in the config to listen elsewhere\n`)
  })
})
