// A counter and a histogram for the request path, counted in plain numbers and turned into
// prom-client's format only when scraped. prom-client's own children validate and hash their
// labels and allocate on every inc/observe: an alternating A/B of the public route put the
// request metrics at about 14 µs of CPU per request that way (README, Benchmark). These register
// on a prom-client registry like its own metrics (name, help, type, aggregator, get, reset), so
// scrapes, the text format and the sum across workers are prom-client's.
import type { Registry } from 'prom-client'

interface MetricValue {
  readonly value: number
  readonly labels: Record<string, string | number>
  readonly metricName?: string
}

abstract class LightMetric<S> {
  readonly aggregator = 'sum'
  protected readonly series = new Map<string, { readonly labels: Record<string, string>; readonly state: S }>()

  constructor(
    readonly name: string,
    readonly help: string,
    protected readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never)
  }

  /** A new series' state. */
  protected abstract fresh(): S

  /** The series for these label values (made once; bounded as the label values are). */
  protected seriesFor(key: string, values: readonly string[]): S {
    let found = this.series.get(key)
    if (found === undefined) {
      const labels = Object.fromEntries(this.labelNames.map((name, i) => [name, values[i]!]))
      this.series.set(key, (found = { labels, state: this.fresh() }))
    }
    return found.state
  }

  reset(): void {
    this.series.clear()
  }
}

export class LightCounter extends LightMetric<{ count: number }> {
  readonly type = 'counter'

  /** Adds one to the series named by `values` (`key`: those values joined, for the lookup). */
  inc(key: string, ...values: string[]): void {
    this.seriesFor(key, values).count++
  }

  protected fresh() {
    return { count: 0 }
  }

  get() {
    const values: MetricValue[] = [...this.series.values()].map(({ labels, state }) => ({ value: state.count, labels }))
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }
}

export class LightHistogram extends LightMetric<{ readonly buckets: Float64Array; sum: number; count: number }> {
  readonly type = 'histogram'

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    super(name, help, labelNames, registry)
  }

  observe(key: string, value: number, ...values: string[]): void {
    const state = this.seriesFor(key, values)
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    if (i < bounds.length) state.buckets[i]!++
    state.sum += value
    state.count++
  }

  protected fresh() {
    return { buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 }
  }

  get() {
    const values: MetricValue[] = []
    for (const { labels, state } of this.series.values()) {
      let cumulative = 0
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += state.buckets[i]!
        values.push({ value: cumulative, labels: { le: this.bounds[i]!, ...labels }, metricName: `${this.name}_bucket` })
      }
      values.push({ value: state.count, labels: { le: '+Inf', ...labels }, metricName: `${this.name}_bucket` })
      values.push({ value: state.sum, labels, metricName: `${this.name}_sum` })
      values.push({ value: state.count, labels, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }
}
