// `node dist-scripts/bench/profile-summary.js FILE.cpuprofile [N]`: where a `node --cpu-prof`
// profile's time went, by package (our src/, each node_modules package, node's own internals, GC)
// and by function, as self time. What the README's "where the time goes" is read from.
import { readFile } from 'node:fs/promises'

interface ProfileNode {
  readonly id: number
  readonly children?: readonly number[]
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly hitCount?: number
}
interface Profile {
  readonly nodes: readonly ProfileNode[]
  readonly samples: readonly number[]
}

/** Where a frame's code lives: a package, our source, node's internals, or V8's own states. */
export function owner(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg) return pkg[1]!
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0]
  const ours = /\/dist\/(.+)$/.exec(url)
  if (ours) return 'gatehouse ' + ours[1]
  return url
}

async function main() {
  const [file, top = '25'] = process.argv.slice(2)
  if (!file) throw new Error('usage: profile-summary FILE.cpuprofile [N]')
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const total = profile.samples.length
  const idle = profile.samples.filter((id) => byId.get(id)?.callFrame.functionName === '(idle)').length
  const busy = total - idle
  const tally = (key: (n: ProfileNode) => string) => {
    const counts = new Map<string, number>()
    for (const id of profile.samples) {
      const node = byId.get(id)!
      if (node.callFrame.functionName === '(idle)') continue
      const k = key(node)
      counts.set(k, (counts.get(k) ?? 0) + 1)
    }
    return [...counts].sort((a, b) => b[1] - a[1])
  }
  const pct = (n: number) => ((100 * n) / busy).toFixed(1).padStart(5) + ' %'
  console.log(`${file}: ${busy} busy samples of ${total}\n\nby owner (self time):`)
  for (const [k, n] of tally((n) => owner(n.callFrame.url, n.callFrame.functionName)).slice(0, Number(top))) console.log(`${pct(n)}  ${k}`)
  console.log('\nby function (self time):')
  const fn = (n: ProfileNode) =>
    `${n.callFrame.functionName || '(anonymous)'}  ${owner(n.callFrame.url, n.callFrame.functionName)}:${n.callFrame.lineNumber + 1}`
  for (const [k, n] of tally(fn).slice(0, Number(top))) console.log(`${pct(n)}  ${k}`)

  // Inclusive time of our own functions: what each costs with everything it calls.
  const hits = new Map<number, number>()
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1)
  const inclusive = new Map<string, number>()
  const walk = (node: ProfileNode, open: Set<string>): number => {
    let sum = hits.get(node.id) ?? 0
    const k = fn(node)
    const ours = owner(node.callFrame.url, node.callFrame.functionName).startsWith('gatehouse') && !open.has(k)
    if (ours) open.add(k)
    for (const child of node.children ?? []) sum += walk(byId.get(child)!, open)
    if (ours) {
      open.delete(k)
      inclusive.set(k, (inclusive.get(k) ?? 0) + sum)
    }
    return sum
  }
  walk(profile.nodes[0]!, new Set())
  console.log('\nour functions, inclusive:')
  for (const [k, n] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) console.log(`${pct(n)}  ${k}`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
