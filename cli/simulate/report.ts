/** The verdict of a simulated run: the ten-second summary, JUnit XML (one test case per assertion) and JSON. */

export interface Assertion {
  name: string
  ok: boolean
  /** Not checked (e.g. RSS of a gateway the runner did not start). */
  skipped?: boolean
  message: string
  /** The first few differing points, refusals or problems. */
  details: string[]
}

export interface RunReport {
  scenario: string
  file: string
  ok: boolean
  startedAt: string
  durationMs: number
  seed: number
  speed: number
  runDir: string
  gateway: { config: string; started: boolean; restarts: number; peakRssMb?: number; /** CPU time over wall time of the run, while it was up (1 = one core). */ cpuShare?: number }
  influx: { url: string; database: string; startedByRunner: boolean }
  devices: { entry: string; ids: string[]; acknowledged: number; started: boolean }[]
  timeline: { atMs: number; event: string }[]
  acknowledged: number
  /** End-to-end latency (reading time to write acknowledged), when the scenario expects it. */
  latency?: { p50Ms: number; p99Ms: number }
  assertions: Assertion[]
}

const esc = (s: string) =>
  s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')

/** JUnit XML in the common (Jenkins/Ant) schema: testsuites > testsuite@tests,failures > testcase@name,classname > failure@message. */
export function junitXml(r: RunReport): string {
  const tests = r.assertions.length
  const failures = r.assertions.filter((a) => !a.ok && !a.skipped).length
  const skipped = r.assertions.filter((a) => a.skipped).length
  const time = (r.durationMs / 1000).toFixed(3)
  const cls = `smartcity.simulate.${r.scenario.replace(/[^A-Za-z0-9_.-]/g, '_')}`
  const cases = r.assertions.map((a) => {
    const open = `    <testcase name="${esc(a.name)}" classname="${esc(cls)}" time="0">`
    if (a.skipped) return `${open}\n      <skipped message="${esc(a.message)}"/>\n    </testcase>`
    if (a.ok) return `${open}</testcase>`
    return `${open}\n      <failure message="${esc(a.message)}" type="assertion">${esc([a.message, ...a.details].join('\n'))}</failure>\n    </testcase>`
  })
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="smartcity simulate" tests="${tests}" failures="${failures}" errors="0" skipped="${skipped}" time="${time}">
  <testsuite name="${esc(r.scenario)}" tests="${tests}" failures="${failures}" errors="0" skipped="${skipped}" time="${time}" timestamp="${r.startedAt.replace(/\.\d+Z$/, '')}" hostname="localhost">
${cases.join('\n')}
  </testsuite>
</testsuites>
`
}

const secs = (ms: number) => `${Math.round(ms / 100) / 10} s`

/** What a person reads in ten seconds: what ran, what was broken when, what held, what failed and why. */
export function summary(r: RunReport): string {
  const failed = r.assertions.filter((a) => !a.ok && !a.skipped)
  const held = r.assertions.filter((a) => a.ok)
  const lines: string[] = []
  lines.push(`${r.ok ? 'PASS' : 'FAIL'} ${r.scenario}: ${held.length}/${r.assertions.length} assertions held, ${r.acknowledged} readings acknowledged, ${secs(r.durationMs)} (seed ${r.seed}, speed ${r.speed})`)
  lines.push('ran:')
  for (const d of r.devices) lines.push(`  ${d.started ? ' ' : '!'} ${d.entry}: ${d.ids.length} device(s) (${d.ids.slice(0, 3).join(', ')}${d.ids.length > 3 ? ', ...' : ''}), ${d.acknowledged} acknowledged${d.started ? '' : ', NOT STARTED'}`)
  lines.push(`    gateway ${r.gateway.started ? `child process from ${r.gateway.config}` : `already running (${r.gateway.config})`}${r.gateway.restarts ? `, restarted ${r.gateway.restarts}x` : ''}${r.gateway.peakRssMb !== undefined ? `, peak RSS ${r.gateway.peakRssMb.toFixed(0)} MB` : ''}${r.gateway.cpuShare !== undefined ? `, CPU ${(r.gateway.cpuShare * 100).toFixed(1)} % of one core` : ''}${r.latency ? `, latency p50 ${Math.round(r.latency.p50Ms)} ms p99 ${Math.round(r.latency.p99Ms)} ms` : ''}`)
  if (r.influx.url) lines.push(`    InfluxDB ${r.influx.url} database "${r.influx.database}"${r.influx.startedByRunner ? ' (started by the runner)' : ''}`)
  const broken = r.timeline.filter((t) => t.event.startsWith('fault'))
  if (broken.length > 0) {
    lines.push('broken:')
    for (const t of broken) lines.push(`    ${secs(t.atMs).padStart(7)}  ${t.event.replace(/^fault: /, '')}`)
  }
  if (held.length > 0) {
    lines.push('held:')
    for (const a of held) lines.push(`    ok  ${a.name}: ${a.message}`)
  }
  if (failed.length > 0) {
    lines.push('failed:')
    for (const a of failed) {
      lines.push(`    FAIL ${a.name}: ${a.message}`)
      for (const d of a.details.slice(0, 5)) lines.push(`           ${d}`)
      if (a.details.length > 5) lines.push(`           ... ${a.details.length - 5} more`)
    }
  }
  for (const a of r.assertions.filter((x) => x.skipped)) lines.push(`    skipped ${a.name}: ${a.message}`)
  if (!r.ok && r.runDir) lines.push(`run directory (gateway log, dead letters, reports): ${r.runDir}`)
  return `${lines.join('\n')}\n`
}
