import { generateKeyPairSync } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { jwtVerify, SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '../../src/errors.js'
import { generateSigningJwk, loadSigningKeys } from '../../src/oauth/keys.js'
import { tempDir } from '../helpers/index.js'

const write = async (name: string, content: string) => {
  const file = join(await tempDir(), name)
  await writeFile(file, content)
  return file
}

describe('signing keys', () => {
  it('makes an ephemeral key when there is no key file', async () => {
    const keys = await loadSigningKeys('ES256', undefined)
    expect(keys.ephemeral).toBe(true)
    expect(keys.jwks.keys).toHaveLength(1)
  })

  it('loads a PEM private key and derives its kid (RFC 7638 thumbprint)', async () => {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
    const keys = await loadSigningKeys('EdDSA', await write('k.pem', pem))
    expect(keys.ephemeral).toBe(false)
    expect(keys.jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig', kid: keys.kid })
    expect(keys.jwks.keys[0]).not.toHaveProperty('d')
  })

  it('signs with the first private key of a set and still verifies a rotated-out public key', async () => {
    const current = await generateSigningJwk('ES256')
    const previous = await generateSigningJwk('ES256')
    const { d: _d, ...previousPublic } = previous
    const keys = await loadSigningKeys('ES256', await write('set.json', JSON.stringify({ keys: [current, previousPublic] })))
    expect(keys.kid).toBe(current.kid)
    expect(keys.jwks.keys.map((k) => k.kid)).toEqual([current.kid, previous.kid])
    expect(keys.jwks.keys.some((k) => 'd' in k)).toBe(false)
    const { createPrivateKey } = await import('node:crypto')
    const oldToken = await new SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'ES256', kid: previous.kid })
      .sign(createPrivateKey({ key: previous, format: 'jwk' }))
    await expect(jwtVerify(oldToken, keys.getKey)).resolves.toBeTruthy()
  })

  it('refuses a key that does not fit signing.alg, naming the file', async () => {
    const rsa = await generateSigningJwk('RS256')
    const file = await write('rsa.jwk', JSON.stringify(rsa))
    await expect(loadSigningKeys('ES256', file)).rejects.toThrow(ConfigError)
    await expect(loadSigningKeys('ES256', file)).rejects.toThrow(/rsa\.jwk:\n {2}- signing\.keyFile: ES256 needs an EC P-256 key/)
  })

  it('refuses a file with no private key, or no key at all', async () => {
    const { d: _d, ...publicOnly } = await generateSigningJwk('ES256')
    await expect(loadSigningKeys('ES256', await write('pub.jwk', JSON.stringify(publicOnly)))).rejects.toThrow(/no private key/)
    await expect(loadSigningKeys('ES256', await write('junk.jwk', 'hello'))).rejects.toThrow(/not a private JWK, JWK set or PEM/)
    await expect(loadSigningKeys('ES256', '/nonexistent.jwk')).rejects.toThrow(/ENOENT/)
  })
})

describe('public keys kept after a rotation', () => {
  it('take their algorithm from their key type, or refuse one that does not fit', async () => {
    const current = await generateSigningJwk('ES256')
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...rsaPublic } = await generateSigningJwk('RS256')
    const keys = await loadSigningKeys('ES256', await write('set.json', JSON.stringify({ keys: [current, { ...rsaPublic, alg: undefined }] })))
    expect(keys.algorithms).toEqual(['ES256', 'RS256'])
    await expect(loadSigningKeys('ES256', await write('ps.json', JSON.stringify({ keys: [current, { ...rsaPublic, alg: 'PS256' }] })))).rejects.toThrow(
      /algorithm gatehouse does not use \(PS256\)/,
    )
    await expect(loadSigningKeys('ES256', await write('bad.json', JSON.stringify({ keys: [current, { ...rsaPublic, alg: 'ES256' }] })))).rejects.toThrow(
      /ES256 needs an EC P-256 key/,
    )
  })
})
