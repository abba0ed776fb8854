// The request path's light counter and histogram must scrape exactly as prom-client's own do, alone
// and summed across workers: the same observations through both, the same text.
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { LightCounter, LightHistogram } from '../../src/http/light-metrics.js'

const BOUNDS = [0.001, 0.01, 0.1, 1]
const OBSERVED: [string, number][] = [
  ['a', 0.0005],
  ['a', 0.001],
  ['a', 0.05],
  ['b', 0.5],
  ['a', 7],
  ['b', 0.0099],
]

function both() {
  const ours = new Registry()
  const theirs = new Registry()
  const lightH = new LightHistogram('gh_seconds', 'time', ['route'], BOUNDS, ours)
  const lightC = new LightCounter('gh_total', 'count', ['route', 'status'], ours)
  const promH = new Histogram({ name: 'gh_seconds', help: 'time', labelNames: ['route'], buckets: BOUNDS, registers: [theirs] })
  const promC = new Counter({ name: 'gh_total', help: 'count', labelNames: ['route', 'status'], registers: [theirs] })
  for (const [route, value] of OBSERVED) {
    lightH.observe(route, value, route)
    promH.labels(route).observe(value)
    lightC.inc(`${route} 2xx`, route, '2xx')
    promC.labels(route, '2xx').inc()
  }
  return { ours, theirs }
}

describe('light metrics', () => {
  it('scrape as prom-client Counter and Histogram do', async () => {
    const { ours, theirs } = both()
    expect(await ours.metrics()).toBe(await theirs.metrics())
  })

  it('sum across workers as prom-client does', async () => {
    const { ours, theirs } = both()
    const summed = async (registry: Registry) => AggregatorRegistry.aggregate([await registry.getMetricsAsJSON(), await registry.getMetricsAsJSON()]).metrics()
    expect(await summed(ours)).toBe(await summed(theirs))
    expect(await summed(ours)).toContain('gh_seconds_count{route="a"} 8')
  })
})
