/**
 * The Debian package (issue 15 item 1): `npm run package:deb` builds both architectures, the archives hold
 * what they must (and no TypeScript tooling), and the host's one installs on this machine with `dpkg -i`,
 * `systemd-analyze verify` accepts its unit, the installed `smartcity check-config` passes on the shipped
 * configuration and on every example, the installed gateway runs from dist/ as the smartcity user, and
 * `dpkg --purge` removes everything but /var/lib/smartcity.
 *
 * This changes the machine (a package, a system user, a unit), so it runs only under CI=true (where it must
 * run: as root on a Debian machine with systemd-analyze) or with SMARTCITY_PACKAGE_TEST=1, and it always
 * purges what it installed. SMARTCITY_DEB_DIR=DIR takes the .debs built there instead of building them.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IN_CI, tempDir } from '../helpers/env.ts'
import { freePort, waitFor } from '../helpers/net.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const ENABLED = IN_CI || process.env['SMARTCITY_PACKAGE_TEST'] === '1'
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
const ARCHES = ['amd64', 'arm64'] as const
const DATA = '/var/lib/smartcity'

function run(cmd: string, args: string[], timeout = 120_000): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout })
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` }
}
const installed = () => /^install ok installed$/m.test(run('dpkg-query', ['-W', '-f=${Status}\n', 'smartcity']).out)
const userExists = (name: string) => run('getent', ['passwd', name]).code === 0
const groupExists = (name: string) => run('getent', ['group', name]).code === 0

describe.skipIf(!ENABLED)('the smartcity .deb: built, installed on this machine, purged', { timeout: 900_000 }, () => {
  let debDir = ''
  let cleanupDir: () => void = () => {}
  let dataExisted = false
  const deb = (arch: string) => join(debDir, `smartcity_${VERSION}_${arch}.deb`)
  const hostArch = () => execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim()

  beforeAll(() => {
    // Never over something that is already there: it is not ours to purge.
    if (installed() || existsSync('/usr/lib/smartcity') || userExists('smartcity')) {
      throw new Error('smartcity is already installed here (package, /usr/lib/smartcity or user): the test installs and purges its own, so remove that first')
    }
    if (process.getuid?.() !== 0) throw new Error('the package test installs with dpkg -i: it needs root')
    dataExisted = existsSync(DATA)
    if (process.env['SMARTCITY_DEB_DIR']) {
      debDir = process.env['SMARTCITY_DEB_DIR']
    } else {
      const t = tempDir('smartcity-deb-test-')
      debDir = t.dir
      cleanupDir = t.cleanup
      const r = run('bash', [join(ROOT, 'scripts', 'package-deb.sh'), '--out', debDir], 840_000)
      if (r.code !== 0) throw new Error(`npm run package:deb failed (${r.code}):\n${r.out}`)
    }
  }, 900_000)

  afterAll(() => {
    // Whatever happened above: nothing of the package stays on the machine.
    if (installed() || existsSync('/var/lib/dpkg/info/smartcity.list')) run('dpkg', ['--purge', 'smartcity'])
    if (!dataExisted) rmSync(DATA, { recursive: true, force: true })
    cleanupDir()
  })

  for (const arch of ARCHES) {
    it(`${arch}: control fields, conffile, maintainer scripts`, () => {
      const field = (f: string) => execFileSync('dpkg-deb', ['--field', deb(arch), f], { encoding: 'utf8' }).trim()
      expect(field('Package')).toBe('smartcity')
      expect(field('Version')).toBe(VERSION)
      expect(field('Architecture')).toBe(arch)
      expect(field('Depends')).toMatch(/\bnodejs \(>= 20\)/)
      expect(Number(field('Installed-Size'))).toBeGreaterThan(1000)
      expect(execFileSync('dpkg-deb', ['--info', deb(arch), 'conffiles'], { encoding: 'utf8' }).trim()).toBe('/etc/smartcity/gateway.yaml')
      const info = execFileSync('dpkg-deb', ['--info', deb(arch)], { encoding: 'utf8' })
      for (const s of ['postinst', 'prerm', 'postrm', 'md5sums']) expect(info).toContain(` ${s}`)
    })

    it(`${arch}: dist/ and production node_modules only, with ${arch}'s serialport build`, () => {
      const lines = execFileSync('dpkg-deb', ['--contents', deb(arch)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).split('\n')
      const paths = lines.map((l) => l.split(/\s+/).slice(5).join(' ')).filter(Boolean)
      const has = (p: string) => paths.some((x) => x === p || x.startsWith(`${p} -> `))
      for (const p of [
        './usr/lib/smartcity/dist/cli/main.js',
        './usr/lib/smartcity/dist/.build-stamp',
        './usr/lib/smartcity/bin/smartcity.js',
        './usr/lib/smartcity/package.json',
        './usr/lib/smartcity/dashboards/web/index.html',
        './usr/lib/smartcity/simulators/scenarios/demo-district.yaml',
        './usr/lib/smartcity/node_modules/fastify/package.json',
        './usr/lib/smartcity/node_modules/echarts/dist/echarts.min.js',
        './etc/smartcity/gateway.yaml',
        './lib/systemd/system/smartcity.service',
        './usr/share/doc/smartcity/copyright',
        './usr/share/doc/smartcity/examples/low-ports.conf',
      ]) {
        expect(has(p), p).toBe(true)
      }
      expect(paths.find((p) => p.startsWith('./usr/bin/smartcity'))).toBe('./usr/bin/smartcity -> ../lib/smartcity/bin/smartcity.js')
      for (const f of readdirSync(join(ROOT, 'examples'))) expect(has(`./usr/share/doc/smartcity/examples/${f}`), f).toBe(true)
      // No TypeScript at run time: no sources, no compiler, no tsx, no test tools.
      for (const dev of ['tsx', 'typescript', 'vitest', 'esbuild', '@biomejs', 'playwright-core', 'fast-check', 'vite']) {
        expect(paths.filter((p) => p.startsWith(`./usr/lib/smartcity/node_modules/${dev}/`)), dev).toEqual([])
      }
      expect(paths.filter((p) => /^\.\/usr\/lib\/smartcity\/(cli|gateway|devices|simulators)\/.*\.ts$/.test(p))).toEqual([])
      expect(paths.filter((p) => p.startsWith('./usr/lib/smartcity/dist/') && p.endsWith('.ts'))).toEqual([])
      const prebuilds = new Set(paths.flatMap((p) => /node_modules\/(.+?)\/prebuilds\/([^/]+)\//.exec(p)?.slice(1, 3).join(' ') ?? []))
      expect([...prebuilds]).toEqual([`@serialport/bindings-cpp ${arch === 'amd64' ? 'linux-x64' : 'linux-arm64'}`])
      expect(paths.filter((p) => p.endsWith('.node') && !p.includes('/prebuilds/'))).toEqual([])
    })
  }

  it("installs with dpkg -i: the smartcity system user in dialout, its directories, the unit enabled", () => {
    const r = run('dpkg', ['-i', deb(hostArch())], 300_000)
    expect(r.code, r.out).toBe(0)
    expect(installed()).toBe(true)
    const pw = execFileSync('getent', ['passwd', 'smartcity'], { encoding: 'utf8' }).trim().split(':')
    expect(Number(pw[2])).toBeLessThan(1000) // a system user
    expect(pw[5]).toBe(DATA)
    expect(pw[6]).toBe('/usr/sbin/nologin')
    expect(execFileSync('id', ['-nG', 'smartcity'], { encoding: 'utf8' }).trim().split(/\s+/)).toEqual(expect.arrayContaining(['smartcity', 'dialout']))
    const uid = Number(pw[2])
    const data = statSync(DATA)
    expect([data.uid, data.mode & 0o777]).toEqual([uid, 0o750])
    const conf = statSync('/etc/smartcity/gateway.yaml')
    expect([conf.uid, conf.gid, conf.mode & 0o777]).toEqual([0, Number(pw[3]), 0o640])
    expect(readlinkSync('/etc/systemd/system/multi-user.target.wants/smartcity.service')).toMatch(/smartcity\.service$/)
    expect(lstatSync('/usr/bin/smartcity').isSymbolicLink()).toBe(true)
  })

  it('systemd-analyze verify accepts the unit, with its hardening', () => {
    const r = run('systemd-analyze', ['verify', '/lib/systemd/system/smartcity.service'])
    expect(r.code, r.out).toBe(0)
    expect(r.out.split('\n').filter((l) => l.includes('smartcity'))).toEqual([])
    // systemd's own score of the hardening (0 best, 10 none; a unit without any scores 9.6): at most 2.
    const sec = run('systemd-analyze', ['security', '--offline=yes', '--threshold=20', '/lib/systemd/system/smartcity.service'])
    expect(sec.code, sec.out).toBe(0)
    expect(Number(/exposure level for smartcity\.service: ([\d.]+)/.exec(sec.out)?.[1])).toBeLessThanOrEqual(2)
    const unit = readFileSync('/lib/systemd/system/smartcity.service', 'utf8')
    for (const line of [
      'User=smartcity',
      'SupplementaryGroups=dialout',
      'ProtectSystem=strict',
      'ReadWritePaths=/var/lib/smartcity',
      'NoNewPrivileges=yes',
      'CapabilityBoundingSet=',
      'DevicePolicy=closed',
      'DeviceAllow=char-ttyUSB rw',
      'Restart=always',
      'ExecReload=/bin/kill -HUP $MAINPID',
    ]) {
      expect(unit.split('\n'), line).toContain(line)
    }
  })

  it('the installed smartcity check-config passes on /etc/smartcity/gateway.yaml and on every example', () => {
    const r = run('/usr/bin/smartcity', ['check-config', '/etc/smartcity/gateway.yaml'])
    expect(r.code, r.out).toBe(0)
    expect(r.out).toContain('/etc/smartcity/gateway.yaml: ok')
    expect(r.out).not.toContain('tsx')
    // As the service's user too: it reads its configuration through the group.
    const u = run('runuser', ['-u', 'smartcity', '--', '/usr/bin/smartcity', 'check-config', '/etc/smartcity/gateway.yaml'])
    expect(u.code, u.out).toBe(0)
    const dir = '/usr/share/doc/smartcity/examples'
    const examples = readdirSync(dir).filter((f) => f.endsWith('.yaml'))
    expect(examples.length).toBe(5)
    for (const f of examples) {
      const e = run('/usr/bin/smartcity', ['check-config', join(dir, f)])
      expect(e.code, `${f}: ${e.out}`).toBe(0)
    }
    expect(run('/usr/bin/smartcity', ['--version']).out.trim()).toBe(`smartcity ${VERSION}`)
  })

  it('the installed gateway runs from dist/ as the smartcity user and writes its data under /var/lib/smartcity', async () => {
    const [mqtt, http, influx] = [await freePort(), await freePort(), await freePort()]
    // Nothing listens on the InfluxDB port: readings would wait in the spool; only loopback is reached.
    const pw = execFileSync('getent', ['passwd', 'smartcity'], { encoding: 'utf8' }).trim().split(':')
    const args = ['gateway', '--config', '/etc/smartcity/gateway.yaml', '--mqtt-port', String(mqtt), '--http-port', String(http), '--influx-url', `http://127.0.0.1:${influx}`]
    // As the service runs it: the smartcity user, in /var/lib/smartcity, without a TTY (the signal goes to the gateway itself).
    const child = spawn('/usr/bin/smartcity', args, { uid: Number(pw[2]), gid: Number(pw[3]), cwd: DATA, env: { PATH: '/usr/bin:/bin', HOME: DATA }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    try {
      const health = await waitFor(
        async () => {
          try {
            const res = await fetch(`http://127.0.0.1:${http}/healthz`)
            return res.status
          } catch {
            return undefined
          }
        },
        60_000,
        `the installed gateway's /healthz (output: ${out})`,
        250,
      )
      expect([200, 503]).toContain(health)
    } finally {
      child.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
    expect(out).toContain('gateway started')
    expect(out).not.toMatch(/tsx|ERR_MODULE_NOT_FOUND/)
    expect(readdirSync(DATA).length).toBeGreaterThan(0)
  })

  it('dpkg --purge removes the program, configuration, unit and user, and keeps /var/lib/smartcity', () => {
    const before = readdirSync(DATA).sort()
    const r = run('dpkg', ['--purge', 'smartcity'], 300_000)
    expect(r.code, r.out).toBe(0)
    expect(installed()).toBe(false)
    for (const p of ['/usr/lib/smartcity', '/usr/bin/smartcity', '/etc/smartcity', '/lib/systemd/system/smartcity.service', '/etc/systemd/system/multi-user.target.wants/smartcity.service', '/usr/share/doc/smartcity']) {
      expect(existsSync(p), p).toBe(false)
    }
    expect(userExists('smartcity')).toBe(false)
    expect(groupExists('smartcity')).toBe(false)
    expect(execFileSync('getent', ['group', 'dialout'], { encoding: 'utf8' })).not.toMatch(/\bsmartcity\b/)
    // The data (spool, dead letters, audit log) stays, as Debian keeps user data on purge.
    expect(readdirSync(DATA).sort()).toEqual(before)
    expect(r.out).toContain('/var/lib/smartcity')
  })
})
