// Watches files for changes, by polling their stat (fs.watchFile): unlike inotify watches, it
// follows a path through an editor's write-and-rename and through the symlink swap with which
// Kubernetes updates a mounted ConfigMap or Secret. A burst of changes (an editor writes twice, a
// ConfigMap swaps two files) calls `onChange` once, after `quietMs` without another.
import { unwatchFile, watchFile, type Stats } from 'node:fs'

export interface Watch {
  close(): void
}

export function watchFiles(files: readonly string[], onChange: () => void, { intervalMs = 500, quietMs = 300 } = {}): Watch {
  let timer: NodeJS.Timeout | undefined
  const changed = (now: Stats, before: Stats) => {
    // Same modification time, size and inode: the file was only touched, or only read.
    if (now.mtimeMs === before.mtimeMs && now.size === before.size && now.ino === before.ino) return
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
