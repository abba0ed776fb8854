// Every error the gateway answers with is declared here, once: its HTTP status and its OAuth
// error code. Steps throw these; one error handler (app.ts) turns them into the JSON body
// {"error", "error_description"} and the WWW-Authenticate header of the README's Errors table.

export type ErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_scope'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'access_denied'
  | 'rate_limited'
  | 'not_found'
  | 'method_not_allowed'
  | 'bad_gateway'
  | 'service_unavailable'
  | 'gateway_timeout'
  | 'server_error'

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  invalid_scope: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  access_denied: 403,
  rate_limited: 429,
  not_found: 404,
  method_not_allowed: 405,
  bad_gateway: 502,
  service_unavailable: 503,
  gateway_timeout: 504,
  server_error: 500,
}

/** Seconds a 503 asks clients to wait: about how long an outage of the store takes to notice its end. */
const RETRY_AFTER_UNAVAILABLE_S = 5

/** Every error code, for config that maps them (a legacy token path's own codes). */
export const ERROR_CODES = Object.keys(STATUS) as readonly ErrorCode[]

export interface GatehouseErrorOptions {
  /** Overrides the code's usual status (e.g. invalid_request is 413 for a body too large). */
  status?: number
  /** Response headers that belong to this refusal: WWW-Authenticate, Retry-After, Allow. */
  headers?: Record<string, string | string[]>
  /** A short machine-readable reason for the log (Oathkeeper's reason ids); never sent. */
  reason?: string
  cause?: unknown
}

export class GatehouseError extends Error {
  readonly status: number
  readonly code: ErrorCode
  readonly headers: Record<string, string | string[]>
  readonly reason: string | undefined

  constructor(code: ErrorCode, description: string, options: GatehouseErrorOptions = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'GatehouseError'
    this.code = code
    this.status = options.status ?? STATUS[code]
    // Every 503 says when to come back (RFC 9110 §10.2.3), as clients such as Atlas's expect.
    this.headers = code === 'service_unavailable' ? { 'retry-after': String(RETRY_AFTER_UNAVAILABLE_S), ...options.headers } : (options.headers ?? {})
    this.reason = options.reason
  }

  toJSON(): { error: ErrorCode; error_description: string } {
    return { error: this.code, error_description: this.message }
  }
}

export const isGatehouseError = (err: unknown): err is GatehouseError => err instanceof GatehouseError

/** A configuration mistake: every problem found, each naming the file and the key's path. */
export class ConfigError extends Error {
  readonly problems: readonly string[]

  constructor(file: string, problems: readonly string[]) {
    super(`invalid config ${file}:\n` + problems.map((p) => `  - ${p}`).join('\n'))
    this.name = 'ConfigError'
    this.problems = problems
  }
}
