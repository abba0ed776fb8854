import { describe, expect, it } from 'vitest'
import { GatehouseError } from '../../src/errors.js'
import { normaliseRequestTarget } from '../../src/policy/normalise-path.js'

const norm = (url: string) => normaliseRequestTarget(url)
const refusal = (url: string) => {
  try {
    norm(url)
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError)
    return (err as GatehouseError).reason
  }
  throw new Error(`${url} was accepted`)
}

describe('normaliseRequestTarget', () => {
  it('leaves a canonical path as it is and keeps the raw query', () => {
    expect(norm('/api/orders/42?x=%2F&y=..')).toEqual({ path: '/api/orders/42', encodedPath: '/api/orders/42', query: '?x=%2F&y=..' })
    expect(norm('/')).toEqual({ path: '/', encodedPath: '/', query: '' })
    expect(norm('/api/orders/').path).toBe('/api/orders/')
  })

  it('decodes percent-encoding once, so an encoded letter matches the plain one', () => {
    expect(norm('/api/%61dmin').path).toBe('/api/admin')
    expect(norm('/api/%61dmin').encodedPath).toBe('/api/admin')
  })

  it('collapses empty segments and resolves dot segments, also encoded ones', () => {
    expect(norm('/api//admin').path).toBe('/api/admin')
    expect(norm('/api/./admin').path).toBe('/api/admin')
    expect(norm('/api/x/../admin').path).toBe('/api/admin')
    expect(norm('/api/x/%2e%2e/admin').path).toBe('/api/admin')
    expect(norm('/api/x/%2E/admin').path).toBe('/api/x/admin')
    expect(norm('/../../etc/passwd').path).toBe('/etc/passwd')
    expect(norm('//').path).toBe('/')
  })

  it('refuses an encoded slash or backslash, which an upstream could split on', () => {
    expect(refusal('/api%2fadmin')).toBe('path_encoded_slash')
    expect(refusal('/api%2Fadmin')).toBe('path_encoded_slash')
    expect(refusal('/api%5cadmin')).toBe('path_forbidden_char')
    expect(refusal('/api\\admin')).toBe('path_forbidden_char')
  })

  it('refuses NUL and control characters, malformed and double encoding', () => {
    expect(refusal('/api/admin%00')).toBe('path_forbidden_char')
    expect(refusal('/api/admin%0a')).toBe('path_forbidden_char')
    expect(refusal('/api/%zz')).toBe('path_bad_encoding')
    expect(refusal('/api/%c3')).toBe('path_bad_encoding')
    expect(refusal('/api/%252e%252e/admin')).toBe('path_double_encoded')
  })

  it('refuses absolute-form and asterisk-form targets', () => {
    expect(refusal('http://evil.example/api/admin')).toBe('target_not_origin_form')
    expect(refusal('*')).toBe('target_not_origin_form')
  })

  it('sends upstream the canonical encoding of the matched path', () => {
    expect(norm('/api/a%20b').encodedPath).toBe('/api/a%20b')
    expect(norm('/api/caf%C3%A9/x/..').encodedPath).toBe('/api/caf%C3%A9')
    expect(norm('/a:b@c$d&e+f,g=h').encodedPath).toBe('/a:b@c$d&e+f,g=h')
    expect(norm('/v1.2/file.txt').encodedPath).toBe('/v1.2/file.txt')
  })

  it('refuses path parameters (";"), which Tomcat, Jetty and Spring strip from a segment', () => {
    expect(refusal('/api/admin;x=1')).toBe('path_forbidden_char')
    expect(refusal('/api/admin%3Bx=1')).toBe('path_forbidden_char')
    expect(refusal('/api;/admin')).toBe('path_forbidden_char')
  })

  it('refuses a segment ending in "." or " ", which IIS and Windows drop', () => {
    expect(refusal('/api/admin.')).toBe('path_trailing_dot')
    expect(refusal('/api/admin%2e/x')).toBe('path_trailing_dot')
    expect(refusal('/api/admin%20')).toBe('path_trailing_dot')
    expect(refusal('/api/...')).toBe('path_trailing_dot')
  })

  it('is idempotent: normalising the forwarded path changes nothing', () => {
    for (const url of ['/api/./a//b/../c', '/x/%41%20y/', '/a%3Ab/%2e/c', '/caf%C3%A9/..']) {
      const once = norm(url)
      expect(norm(once.encodedPath).path).toBe(once.path)
      expect(norm(once.encodedPath).encodedPath).toBe(once.encodedPath)
    }
  })
})
