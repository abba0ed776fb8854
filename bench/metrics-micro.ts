// What counting one request costs: a request's three metric calls (a counter, two histograms)
// through prom-client's children and through light-metrics.ts, a million times each, three times,
// in this process. Run: `npm run build && npx tsc -p tsconfig.scripts.json && node dist-scripts/bench/metrics-micro.js`.
import { Counter, Histogram, Registry } from 'prom-client'
import { LightCounter, LightHistogram } from '../src/http/light-metrics.js'

const BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
const N = 1_000_000
const registers = [new Registry()]
const counter = new Counter({ name: 'a_total', help: 'h', labelNames: ['route', 'method', 'status'], registers })
const duration = new Histogram({ name: 'b', help: 'h', labelNames: ['route'], buckets: BOUNDS, registers })
const upstream = new Histogram({ name: 'c', help: 'h', labelNames: ['route'], buckets: BOUNDS, registers })
const light = new Registry()
const lightCounter = new LightCounter('a_total', 'h', ['route', 'method', 'status'], light)
const lightDuration = new LightHistogram('b', 'h', ['route'], BOUNDS, light)
const lightUpstream = new LightHistogram('c', 'h', ['route'], BOUNDS, light)
// prom-client's children by label values, as metrics.ts looked them up before light-metrics.ts.
function children<T>(metric: { labels(...values: string[]): T }): (...values: string[]) => T {
  const made = new Map<string, T>()
  return (...values) => {
    const key = values.join('\0')
    let found = made.get(key)
    if (found === undefined) made.set(key, (found = metric.labels(...values)))
    return found
  }
}
const child = { counter: children(counter), duration: children(duration), upstream: children(upstream) }

const time = (run: () => void) => {
  const start = process.hrtime.bigint()
  for (let i = 0; i < N; i++) run()
  return Number(process.hrtime.bigint() - start) / N
}
for (let round = 1; round <= 3; round++) {
  const prom = time(() => {
    child.counter('pub', 'GET', '2xx').inc()
    child.duration('pub').observe(0.0007)
    child.upstream('pub').observe(0.0003)
  })
  const ours = time(() => {
    lightCounter.inc('pub\x00GET\x002xx', 'pub', 'GET', '2xx')
    lightDuration.observe('pub', 0.0007, 'pub')
    lightUpstream.observe('pub', 0.0003, 'pub')
  })
  console.log(`round ${round}: prom-client children ${prom.toFixed(0)} ns per request, light metrics ${ours.toFixed(0)} ns`)
}
