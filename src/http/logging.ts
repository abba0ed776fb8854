// What the logs say about a request: method and path, never the query string (it may carry
// secrets) and never headers (Authorization, cookies).

export interface LoggerOptions {
  level?: string
  stream?: { write(line: string): void }
}

/** pino options for fastify: the caller's level and stream, always with our request serializer. */
export function loggerOptions(defaultLevel: string, given: false | LoggerOptions | undefined) {
  const chosen = given === false ? { level: 'silent' } : (given ?? {})
  return { level: defaultLevel, ...chosen, serializers: { req: requestForLog } }
}

function requestForLog(req: { method: string; url: string; ip?: string; id?: string }) {
  const q = req.url.indexOf('?')
  return { method: req.method, path: q === -1 ? req.url : req.url.slice(0, q), ip: req.ip, id: req.id }
}
