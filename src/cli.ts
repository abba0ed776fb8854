// The `gatehouse` command: start the gateway (default) or one of its helpers.
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig, type Env } from './config/load.js'
import type { SigningAlg } from './config/compile.js'
import { ConfigError } from './errors.js'
import { generateSigningJwk, loadSigningKeys } from './oauth/keys.js'
import { generateSecret, hashGeneratedSecret, hashSecret, MIN_GENERATED_LENGTH } from './config/secret-hash.js'
import { configJsonSchema } from './config/schema.js'
import { runGateway } from './server.js'

export interface CliIo {
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  readonly stdout: { write(text: string): unknown }
  readonly stderr: { write(text: string): unknown }
  readonly env: Env
}

const USAGE = `usage:
  gatehouse [--config FILE]          start the gateway (FILE: GATEHOUSE_CONFIG, else config/gatehouse.yaml)
  gatehouse check-config [FILE]      validate a config file; prints OK or every problem
  gatehouse schema                   print the config file's JSON Schema (for editors)
  gatehouse hash-secret [--generated]
                                     read a secret on stdin, print its scrypt hash; --generated: a
                                     machine-made secret (32+ characters), hashed fast ($sha256$)
  gatehouse new-client --id ID [--grants a,b] [--scopes a,b] [--group G]
                                     make a client: its config entry on stdout, its secret (once) on stderr
  gatehouse gen-key [--alg ES256|RS256|EdDSA] [--out FILE [--force]]
                                     make a private signing key (JWK); --out writes it with mode 0600,
                                     making its folder, and never over an existing file without --force
`
const ALGS: readonly SigningAlg[] = ['ES256', 'RS256', 'EdDSA']

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv
  const defaultConfig = io.env.GATEHOUSE_CONFIG || 'config/gatehouse.yaml'
  try {
    switch (command) {
      case 'check-config':
        return await checkConfig(rest[0] ?? defaultConfig, io)
      case 'schema':
        io.stdout.write(JSON.stringify(configJsonSchema(), null, 2) + '\n')
        return 0
      case 'hash-secret':
        return await hashSecretCommand(rest, io)
      case 'new-client':
        return await newClient(rest, io)
      case 'gen-key':
        return await genKey(rest, io)
      case 'help':
      case '--help':
      case '-h':
        io.stdout.write(USAGE)
        return 0
      default: {
        const { values } = parseArgs({ args: [...argv], options: { config: { type: 'string', short: 'c' } } })
        await runGateway(values.config ?? defaultConfig, io.env)
        return 0
      }
    }
  } catch (err) {
    if (err instanceof ConfigError) io.stderr.write(err.message + '\n')
    else if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      const { address, port } = err as { address?: string; port?: number }
      io.stderr.write(`gatehouse: ${address}:${port} is already in use by another process; set PORT=... or server.port in the config to listen elsewhere\n`)
    } else if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) io.stderr.write(`${(err as Error).message}\n\n${USAGE}`)
    else io.stderr.write(`gatehouse: ${(err as Error).message}\n`)
    return 1
  }
}

async function checkConfig(file: string, io: CliIo): Promise<number> {
  const config = await loadConfig(file, io.env)
  await loadSigningKeys(config.signing.alg, config.signing.keyFile)
  for (const warning of config.warnings) io.stderr.write(`warning: ${warning}\n`)
  if (config.signing.keyFile === undefined) io.stderr.write('warning: signing.keyFile is not set: an ephemeral key will be used\n')
  io.stdout.write(`OK: ${file} (${config.routes.length} routes, ${config.clients.size} clients)\n`)
  return 0
}

async function readStdin(io: CliIo): Promise<string> {
  if (io.stdin.isTTY) io.stderr.write('secret: ')
  let text = ''
  for await (const chunk of io.stdin) {
    text += chunk.toString()
    if (io.stdin.isTTY && text.includes('\n')) break
  }
  return text.replace(/\r?\n$/, '')
}

async function hashSecretCommand(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { generated: { type: 'boolean' } } })
  const secret = await readStdin(io)
  if (secret === '') {
    io.stderr.write('gatehouse hash-secret: the secret is empty (give it on stdin)\n')
    return 1
  }
  if (values.generated && secret.length < MIN_GENERATED_LENGTH) {
    io.stderr.write(
      `gatehouse hash-secret: --generated is for machine-made secrets of ${MIN_GENERATED_LENGTH} characters or more; this one has ${secret.length}: hash it without --generated (scrypt)\n`,
    )
    return 1
  }
  io.stdout.write((values.generated ? hashGeneratedSecret(secret) : await hashSecret(secret)) + '\n')
  return 0
}

const list = (value: string | undefined) =>
  value
    ? value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : []

async function newClient(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { id: { type: 'string' }, grants: { type: 'string' }, scopes: { type: 'string' }, group: { type: 'string' } },
  })
  if (!values.id) {
    io.stderr.write('gatehouse new-client: --id is required\n')
    return 1
  }
  const secret = generateSecret()
  const grants = list(values.grants)
  const lines = [
    `- id: ${JSON.stringify(values.id)}`,
    // 256 random bits: a fast hash loses nothing, and the token endpoint stays fast (secret-hash.ts).
    `  secretHash: "${hashGeneratedSecret(secret)}"`,
    `  grants: [${(grants.length ? grants : ['client_credentials']).join(', ')}]`,
    `  scopes: [${list(values.scopes).join(', ')}]`,
    ...(values.group ? [`  group: ${JSON.stringify(values.group)}`] : []),
  ]
  // The secret goes to stderr: the entry on stdout can be appended to a config without it.
  io.stderr.write(`client secret for "${values.id}", shown once (give it to the client; it is stored nowhere): ${secret}\n`)
  io.stderr.write("add the entry below under `clients:` in the config file (it is indented as the example config's entries are)\n")
  io.stdout.write(lines.map((line) => `  ${line}`).join('\n') + '\n')
  return 0
}

async function genKey(args: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { alg: { type: 'string' }, out: { type: 'string' }, force: { type: 'boolean' } } })
  const alg = (values.alg ?? 'ES256') as SigningAlg
  if (!ALGS.includes(alg)) {
    io.stderr.write(`gatehouse gen-key: --alg must be one of ${ALGS.join(', ')}\n`)
    return 1
  }
  const json = JSON.stringify(await generateSigningJwk(alg), null, 2) + '\n'
  if (!values.out) {
    io.stdout.write(json)
    return 0
  }
  await mkdir(dirname(values.out), { recursive: true })
  try {
    // wx: an existing key is never overwritten by accident (its tokens would all die with it).
    await writeFile(values.out, json, { mode: 0o600, flag: values.force ? 'w' : 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    io.stderr.write(`gatehouse gen-key: ${values.out} exists already; keep it, or add --force to replace it (tokens it signed stop working)\n`)
    return 1
  }
  io.stderr.write(
    `wrote ${values.out}\n` +
      `next: point the config at it, so that tokens outlive a restart (a relative keyFile is read from\n` +
      `the config file's folder, so the absolute path below works wherever the config is):\n` +
      `  signing:\n    alg: ${alg}\n    keyFile: ${resolve(values.out)}\n`,
  )
  return 0
}
