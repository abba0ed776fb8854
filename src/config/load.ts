// Loads the config file: read → interpolate ${VAR} → parse YAML → validate against the schema →
// compile. Every problem is collected and reported with the file, the line and the key's path;
// the gateway never starts on a config it does not understand.
import { hash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { Ajv, type ErrorObject } from 'ajv'
import { closest, distance } from 'fastest-levenshtein'
import { Document, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Node } from 'yaml'
import { ConfigError } from '../errors.js'
import { compileConfig, type GatehouseConfig, type Problem } from './compile.js'
import { ConfigFileSchema, type ConfigFile } from './schema.js'

export type Env = Readonly<Record<string, string | undefined>>

/** Environment variables that override config keys; compile reports their problems by name. */
const ENV_OVERRIDES = ['PORT', 'REDIS_URL']

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, coerceTypes: true })
const validateSchema = ajv.compile<ConfigFile>(ConfigFileSchema)

export async function loadConfig(file: string, env: Env = process.env): Promise<GatehouseConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`])
  }
  return parseConfig(text, file, env)
}

/** Parses config text; `file` names it in errors and anchors relative paths (signing.keyFile). */
export async function parseConfig(text: string, file: string, env: Env = process.env): Promise<GatehouseConfig> {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => `line ${lineCounter.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`)
    // `{ port: ${PORT} }` is a nested flow map to YAML; say so rather than leave the user puzzled.
    if (/\{[^}\n]*\$\{/.test(text)) problems.push('hint: inside { ... } write "${VAR}" in quotes, or use block style (key: ${VAR})')
    throw new ConfigError(file, problems)
  }
  const where = (path: readonly (string | number)[]) => {
    // PORT and REDIS_URL override keys from outside the file: no line of it is to blame.
    if (path.length === 1 && ENV_OVERRIDES.includes(String(path[0]))) return `environment variable ${path[0]}`
    const line = lineOf(doc, lineCounter, path)
    return (line ? `line ${line}: ` : '') + (formatPath(path) || '(top level)')
  }

  const missing = interpolateEnv(doc, env)
  if (missing.length > 0) {
    throw new ConfigError(
      file,
      missing.map((m) => `${where(m.path)}: environment variable ${m.name} is not set (use \${${m.name}:-default} for a default)`),
    )
  }

  let data: unknown
  try {
    // An alias to a missing anchor, or too many aliases (a "billion laughs" file), throws here.
    data = doc.toJS({ maxAliasCount: 100 }) ?? {}
  } catch (err) {
    throw new ConfigError(file, [`the YAML cannot be read: ${(err as Error).message.split('\n')[0]}`])
  }
  if (!validateSchema(data)) {
    throw new ConfigError(
      file,
      schemaProblems(validateSchema.errors ?? []).map((p) => `${where(p.path)}: ${p.message}`),
    )
  }

  const portOverride = env.PORT ? Number(env.PORT) : undefined
  if (portOverride !== undefined && !(Number.isInteger(portOverride) && portOverride >= 0 && portOverride < 65536)) {
    throw new ConfigError(file, [`environment variable PORT: "${env.PORT}" is not a port number`])
  }
  const result = await compileConfig(file, data, {
    resolvePath: (p) => resolve(dirname(file), p),
    portOverride,
    redisUrlOverride: env.REDIS_URL || undefined,
    version: hash('sha256', text, 'hex').slice(0, 12),
  })
  if (Array.isArray(result))
    throw new ConfigError(
      file,
      result.map((p) => `${where(p.path)}: ${p.message}`),
    )
  return result
}

const REFERENCE = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g

/**
 * Replaces ${NAME} and ${NAME:-default} (default when NAME is unset or empty) in string values, and
 * `$$` with `$`. Substitution happens on parsed values, not on the raw text, so a variable can never
 * change the document's structure; the schema then coerces "8080" to 8080 where a number is expected.
 */
function interpolateEnv(doc: Document, env: Env): { name: string; path: (string | number)[] }[] {
  const missing: { name: string; path: (string | number)[] }[] = []
  visit(doc, {
    Scalar(key, node, ancestors) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('$')) return
      node.value = node.value.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
        if (match === '$$') return '$'
        const value = env[name!]
        if (fallback !== undefined) return value ? value : fallback
        if (value === undefined) missing.push({ name: name!, path: pathOf(ancestors, node) })
        return value ?? ''
      })
    },
  })
  return missing
}

/** The key path of a node from the visitor's ancestors (Document, Map, Pair, Seq, ...). */
function pathOf(ancestors: readonly unknown[], node: unknown): (string | number)[] {
  const path: (string | number)[] = []
  const chain = [...ancestors, node]
  for (let i = 1; i < chain.length; i++) {
    const parent = chain[i - 1]
    const child = chain[i]
    if (isSeq(parent)) path.push(parent.items.indexOf(child))
    else if (isMap(parent) && child && typeof child === 'object' && 'key' in child) {
      const k = child.key
      path.push(isScalar(k) ? String(k.value) : String(k))
    }
  }
  return path
}

function lineOf(doc: Document, lc: LineCounter, path: readonly (string | number)[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as Node | undefined
    if (node && typeof node === 'object' && node.range) return lc.linePos(node.range[0]).line
  }
  return undefined
}

export function formatPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')
}

/** Ajv's errors in the words of a config file; a failed union gives one line, not one per branch. */
function schemaProblems(errors: readonly ErrorObject[]): Problem[] {
  const toPath = (pointer: string) =>
    pointer
      .split('/')
      .slice(1)
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s))
  const unionPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath))
  const seen = new Set<string>()
  const problems: Problem[] = []
  for (const e of errors) {
    const path = toPath(e.instancePath)
    let message: string
    if (e.keyword === 'additionalProperties') {
      const key = (e.params as { additionalProperty: string }).additionalProperty
      path.push(key)
      message = `unknown key${didYouMean(key, Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {}))}`
    } else if (e.keyword === 'anyOf') {
      const branches = (e.parentSchema as { anyOf?: { const?: unknown }[]; description?: string }) ?? {}
      const consts = branches.anyOf?.every((b) => 'const' in b) ? branches.anyOf.map((b) => JSON.stringify(b.const)) : undefined
      message = consts ? `must be one of ${consts.join(', ')}` : `must be ${branches.description ?? 'one of the allowed forms'}`
    } else if (unionPaths.has(e.instancePath) && e.schemaPath.includes('/anyOf/')) {
      continue // a branch of a failed union: the anyOf line above says it better
    } else if (e.keyword === 'required') {
      message = `missing required key "${(e.params as { missingProperty: string }).missingProperty}"`
    } else if (e.keyword === 'pattern') {
      const description = (e.parentSchema as { description?: string } | undefined)?.description
      message = description ? `must be ${description}` : (e.message ?? 'is invalid')
    } else {
      message = e.message ?? 'is invalid'
    }
    const id = `${e.instancePath}|${message}`
    if (seen.has(id)) continue
    seen.add(id)
    problems.push({ path, message })
  }
  return problems
}

/** " (did you mean accessTokenTtl?)" for a key a typo or two away from a known one, else "". */
function didYouMean(key: string, known: readonly string[]): string {
  if (known.length === 0) return ''
  const best = closest(
    key.toLowerCase(),
    known.map((k) => k.toLowerCase()),
  )
  const near = distance(key.toLowerCase(), best) <= Math.max(2, Math.floor(best.length / 4))
  return near ? ` (did you mean ${known.find((k) => k.toLowerCase() === best)}?)` : ''
}
