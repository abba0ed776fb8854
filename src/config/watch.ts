// Watches files for changes, by polling their stat (fs.watchFile): unlike inotify watches, it
// follows a path through an editor's write-and-rename and through the symlink swap with which
// Kubernetes updates a mounted ConfigMap or Secret. A burst of changes (an editor writes twice, a
// ConfigMap swaps two files) calls `onChange` once, after `quietMs` without another.
import { unwatchFile, watchFile, type Stats } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'

export interface Watch {
  close(): void
}

/** Same modification time, size and inode: the file was not written (only touched, or read). */
const sameStat = (a: Stats, b: Stats) => a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino

export function watchFiles(files: readonly string[], onChange: () => void, { intervalMs = 500, quietMs = 300 } = {}): Watch {
  let timer: NodeJS.Timeout | undefined
  const changed = (now: Stats, before: Stats) => {
    if (sameStat(now, before)) return
    clearTimeout(timer)
    timer = setTimeout(onChange, quietMs)
  }
  for (const file of files) watchFile(file, { interval: intervalMs, persistent: false }, changed)
  return {
    close() {
      clearTimeout(timer)
      for (const file of files) unwatchFile(file, changed)
    },
  }
}

/**
 * The file's text once it has stopped changing: read when its last change is `quietMs` old, and
 * read again if it changed during the read. A writer that pauses longer mid-write can still be
 * read half-way: files should be replaced whole (written aside, then renamed), as editors and
 * Kubernetes do.
 */
export async function readSettled(file: string, quietMs = 300): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const before = await stat(file)
    const age = Date.now() - before.mtimeMs
    if (age < quietMs && attempt < 10) {
      await new Promise((resolve) => setTimeout(resolve, quietMs - age))
      continue
    }
    const text = await readFile(file, 'utf8')
    if (sameStat(before, await stat(file)) || attempt >= 10) return text
  }
}
