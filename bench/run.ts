/**
 * `npm run bench [-- name ...]`: run the benchmarks and print their figures as one JSON object.
 * Speed and memory goals live here, not in timed unit tests.
 */
import * as cityServices from './city-services.ts'
import * as dashboard from './dashboard.ts'
import * as fuzz from './fuzz.ts'
import * as fuzzLive from './fuzz-live.ts'
import * as hotPath from './hot-path.ts'
import * as ingest from './ingest.ts'
import * as load from './load.ts'
import * as modbus from './modbus.ts'
import * as scaleOut from './scale-out.ts'
import * as serialCodecs from './serial-codecs.ts'
import * as soak from './soak.ts'
import * as tcpPlatforms from './tcp-platforms.ts'
import * as uplink from './uplink.ts'

const benches: Record<string, { run(): Promise<Record<string, unknown>> }> = { ingest, 'hot-path': hotPath, modbus, 'serial-codecs': serialCodecs, 'city-services': cityServices, 'tcp-platforms': tcpPlatforms, load, fuzz, 'fuzz-live': fuzzLive, soak, uplink, 'scale-out': scaleOut, dashboard }

// Names of benchmarks; `--name value` pairs are the benchmarks' own options (load, soak: --minutes N; load: --runs N).
const wanted = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'))
const out: Record<string, unknown> = { machine: { cpus: (await import('node:os')).cpus().length, node: process.version } }
for (const [name, b] of Object.entries(benches)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue
  try {
    out[name] = await b.run()
  } catch (err) {
    out[name] = { error: (err as Error).message }
  }
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
