import { fileURLToPath } from 'node:url'

/** Let a benchmark module also run by itself (`node --import tsx bench/<name>.ts`), printing its JSON. */
export function runIfMain(moduleUrl: string, run: () => Promise<Record<string, unknown>>): void {
  if (process.argv[1] !== fileURLToPath(moduleUrl)) return
  run().then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`)
      process.exit(0)
    },
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`)
      process.exit(1)
    },
  )
}
