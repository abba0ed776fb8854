// The example config of a seed system, started as its document's clients would meet it.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startGateway, type Gateway, type GatewayOptions } from '../helpers/index.js'

export const EXAMPLES = join(import.meta.dirname, '..', '..', 'config', 'examples')

export async function startExample(name: string, options: GatewayOptions = {}): Promise<Gateway> {
  const file = join(EXAMPLES, name)
  return startGateway(await readFile(file, 'utf8'), { file, ...options })
}

/** `echo -n 'id:key' | base64`, as the documents build their Basic headers: no form-encoding. */
export const basicAsDocumented = (id: string, key: string) => 'Basic ' + Buffer.from(`${id}:${key}`).toString('base64')
