// deploy/kubernetes.yaml is an example people copy: it must parse, carry a config that loads, and
// match the gateway's own settings (probe paths, the drain, the key's mount, the variables).
import { readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { generateSecret, hashGeneratedSecret } from '../../src/config/secret-hash.js'

interface Container {
  name: string
  env?: { name: string; value?: string }[]
  readinessProbe?: { httpGet: { path: string } }
  livenessProbe?: { httpGet: { path: string } }
  volumeMounts?: { name: string; mountPath: string }[]
  lifecycle?: { preStop?: { exec: { command: string[] } } }
}

describe('deploy/kubernetes.yaml', () => {
  it('carries a config that loads, and a sidecar whose probes, drain and mounts match it', async () => {
    const docs = parseAllDocuments(await readFile('deploy/kubernetes.yaml', 'utf8')).map((d) => d.toJS())
    expect(docs.map((d) => d.kind)).toEqual(['ConfigMap', 'Secret', 'Deployment', 'Service'])
    const [configMap, , deployment] = docs
    const pod = deployment.spec.template.spec
    const gatehouse = pod.containers.find((c: Container) => c.name === 'gatehouse') as Container
    const app = pod.containers.find((c: Container) => c.name === 'app') as Container

    // Every ${VAR} in the config is set on the container (here with values that validate).
    const text = configMap.data['gatehouse.yaml'] as string
    const wanted = [...text.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1])
    const given = gatehouse.env!.map((e) => e.name)
    for (const name of wanted) expect(given).toContain(name)
    const config = await parseConfig(text, 'deploy/kubernetes.yaml', {
      REDIS_URL: 'redis://redis.orders.svc:6379',
      REPORTING_SECRET_HASH: hashGeneratedSecret(generateSecret()),
    })

    expect(gatehouse.readinessProbe!.httpGet.path).toBe(config.health.ready)
    expect(gatehouse.livenessProbe!.httpGet.path).toBe(config.health.live)
    const preStop = Number(gatehouse.lifecycle!.preStop!.exec.command.at(-1))
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStop + config.server.shutdownTimeout + 5)
    expect(gatehouse.volumeMounts!.map((m) => m.mountPath)).toContain(dirname(config.signing.keyFile!))
    // The app is reachable only through the gateway.
    expect(app.env!.find((e) => e.name === 'HOST')?.value).toBe('127.0.0.1')
    expect(config.routes.every((r) => r.upstreamOrigin.startsWith('http://127.0.0.1:'))).toBe(true)
    expect(config.store.redis).toBeDefined() // several replicas share limits, codes and revocations
  })
})
