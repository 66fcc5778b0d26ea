import { execFile, spawn } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { ClientAcl, defaultRules, parseAcl, rulesFromFile } from '../../gateway/broker/acl.ts'
import { hashPassword, parseHash, parsePasswordFile, upsertPasswordLine, verifyPassword } from '../../gateway/broker/passwords.ts'
import { covers } from '../../gateway/broker/topics.ts'
import { tempDir } from '../helpers/env.ts'

// The example ACL of Mosquitto's own documentation (mosquitto.conf(5), "acl_file"; aclfile.example in the
// Mosquitto source): anonymous lines first, then per-user lines, then patterns for everybody.
const MOSQUITTO_EXAMPLE = `# This affects access control for clients with no username.
topic read $SYS/#

# This only affects clients with username "roger".
user roger
topic foo/bar

# This affects all clients.
pattern write $SYS/broker/connection/%c/state
`

describe('ACL files in Mosquitto syntax', () => {
  it('parses anonymous, user and pattern lines as Mosquitto does', () => {
    const acl = parseAcl(MOSQUITTO_EXAMPLE, 'acl')
    if ('problems' in acl) throw new Error(acl.problems.join())
    expect(acl.anonymous).toEqual([{ access: 'read', topic: '$SYS/#' }])
    expect(acl.users.get('roger')).toEqual([{ access: 'readwrite', topic: 'foo/bar' }])
    expect(acl.patterns).toEqual([{ access: 'write', topic: '$SYS/broker/connection/%c/state' }])
    const roger = new ClientAcl(rulesFromFile(acl, { identity: 'roger', clientId: 'c1' }))
    expect(roger.canPublish('foo/bar')).toBe(true)
    expect(roger.canRead('foo/bar')).toBe(true)
    expect(roger.canPublish('$SYS/broker/connection/c1/state')).toBe(true)
    expect(roger.canPublish('$SYS/broker/connection/c2/state')).toBe(false)
    expect(roger.canRead('$SYS/broker/load')).toBe(false)
    const anon = new ClientAcl(rulesFromFile(acl, { identity: undefined, clientId: 'c9' }))
    expect(anon.canSubscribe('$SYS/#')).toBe(true)
    expect(anon.canPublish('foo/bar')).toBe(false)
  })

  it('reports every bad line with its number', () => {
    const r = parseAcl('topic read a/#/b\nfrobnicate x\nuser\ntopic write ok/+\ntopic a+/b\n', 'f.acl')
    expect('problems' in r && r.problems).toEqual([
      'f.acl:1: # must be the last level: a/#/b',
      'f.acl:2: unknown directive frobnicate (topic, user or pattern)',
      'f.acl:3: expected topic, user or pattern with a value',
      'f.acl:5: a wildcard must be a whole level: a+/b',
    ])
  })

  it('substitutes %u and %c, and deny wins over a broader grant', () => {
    const acl = parseAcl('pattern write city/+/+/%u/#\npattern read city/+/+/%u/command/#\npattern deny city/+/+/%u/command/secret\ntopic read city/+/alarms/#\n', 'a')
    if ('problems' in acl) throw new Error(acl.problems.join())
    const a = new ClientAcl(rulesFromFile(acl, { identity: 'wq-1', clientId: 'x' }))
    expect(a.canPublish('city/d1/water_quality/wq-1/telemetry')).toBe(true)
    expect(a.canPublish('city/d1/water_quality/wq-2/telemetry')).toBe(false)
    expect(a.canSubscribe('city/d1/water_quality/wq-1/command/#')).toBe(true)
    expect(a.canSubscribe('city/+/+/wq-1/command/+')).toBe(true)
    expect(a.canSubscribe('city/#')).toBe(false)
    expect(a.canRead('city/d1/water_quality/wq-1/command/secret')).toBe(false)
    expect(a.canSubscribe('city/d1/water_quality/wq-1/command/secret')).toBe(false)
    // Topic lines before any user line are for anonymous clients only.
    expect(a.canSubscribe('city/d1/alarms/#')).toBe(false)
    const anon = new ClientAcl(rulesFromFile(acl, { identity: undefined, clientId: 'x' }))
    expect(anon.canSubscribe('city/d1/alarms/#')).toBe(true)
    // %u patterns never apply to an anonymous client, nor to an identity that is not one topic level.
    expect(anon.canPublish('city/d1/water_quality//telemetry')).toBe(false)
    const sneaky = new ClientAcl(rulesFromFile(acl, { identity: '+', clientId: 'x' }))
    expect(sneaky.canPublish('city/d1/water_quality/wq-1/telemetry')).toBe(false)
  })

  it('the default: a device publishes under its own topics and subscribes to its own commands', () => {
    const inv = (id: string) => (id === 'wq-1' ? { district: 'd1', kind: 'water_quality' } : undefined)
    const a = new ClientAcl(defaultRules({ identity: 'wq-1', clientId: 'whatever' }, inv))
    expect(a.canPublish('city/d1/water_quality/wq-1/telemetry')).toBe(true)
    expect(a.canPublish('city/d1/water_quality/wq-1/status')).toBe(true)
    // The inventory says which district and kind: another one is refused.
    expect(a.canPublish('city/d2/water_quality/wq-1/telemetry')).toBe(false)
    expect(a.canPublish('city/d1/energy_meter/wq-1/telemetry')).toBe(false)
    expect(a.canPublish('city/d1/water_quality/wq-2/telemetry')).toBe(false)
    expect(a.canSubscribe('city/d1/water_quality/wq-1/command/#')).toBe(true)
    expect(a.canSubscribe('city/d1/water_quality/wq-1/telemetry')).toBe(false)
    expect(a.canSubscribe('#')).toBe(false)
    // Not in the inventory: any district and kind, still only its own id.
    const b = new ClientAcl(defaultRules({ identity: 'wq-9', clientId: 'c' }, inv))
    expect(b.canPublish('city/x/water_quality/wq-9/telemetry')).toBe(true)
    expect(b.canPublish('city/x/water_quality/wq-1/telemetry')).toBe(false)
  })

  it('wildcards at the first level do not match $SYS topics (MQTT 3.1.1 section 4.7.2)', () => {
    const a = new ClientAcl([{ access: 'readwrite', topic: '#' }])
    expect(a.canPublish('city/a')).toBe(true)
    expect(a.canPublish('$SYS/x')).toBe(false)
    expect(a.canSubscribe('$SYS/#')).toBe(false)
  })

  it('covers: a subscription is granted only where the ACL covers all of it', () => {
    const cases: [string, string, boolean][] = [
      ['city/#', 'city/a/b', true],
      ['city/#', 'city', true],
      ['city/#', '#', false],
      ['city/+/x', 'city/+/x', true],
      ['city/+/x', 'city/#', false],
      ['city/a/x', 'city/+/x', false],
      ['city/+', 'city/a/b', false],
      ['a/b', 'a/b', true],
      ['a/b', 'a', false],
    ]
    for (const [acl, sub, want] of cases) expect(covers(acl, sub), `${acl} covers ${sub}`).toBe(want)
  })
})

describe('credentials file', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('hashes with scrypt and verifies only the right password', async () => {
    const h = await hashPassword('s3cret')
    expect(h).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/)
    const p = parseHash(h)
    if (typeof p === 'string') throw new Error(p)
    expect(await verifyPassword('s3cret', p)).toBe(true)
    expect(await verifyPassword('s3creT', p)).toBe(false)
    // Two hashes of one password differ (a random salt each).
    expect(await hashPassword('s3cret')).not.toBe(h)
  })

  it('reports bad lines and keeps the others when a line is updated', async () => {
    const r = parsePasswordFile('# devices\nwq-1:scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nwq-2:plain\nnocolon\n', 'pw')
    expect('problems' in r && r.problems).toEqual(['pw:3: user wq-2: expected scrypt$N$r$p$salt$hash', 'pw:4: expected username:scrypt$N$r$p$salt$hash'])
    const text = '# devices\na:scrypt$1\nb:scrypt$2\n'
    expect(upsertPasswordLine(text, 'a', 'scrypt$9')).toBe('# devices\na:scrypt$9\nb:scrypt$2\n')
    expect(upsertPasswordLine(text, 'c', 'scrypt$3')).toBe('# devices\na:scrypt$1\nb:scrypt$2\nc:scrypt$3\n')
    expect(() => upsertPasswordLine(text, 'a:b', 'x')).toThrow(/not a username/)
  })

  it('smartcity passwd FILE USER adds and updates a line from stdin, mode 0600, never the password itself', async () => {
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')
    const file = join(tmp.dir, 'passwd')
    const passwd = (user: string, input: string) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
        const p = spawn(process.execPath, [bin, 'passwd', file, user], { stdio: ['pipe', 'pipe', 'pipe'] })
        let out = ''
        let err = ''
        p.stdout.on('data', (d: Buffer) => (out += d))
        p.stderr.on('data', (d: Buffer) => (err += d))
        p.on('error', reject)
        p.on('exit', (code) => resolve({ code, out, err }))
        p.stdin.end(input)
      })
    const a = await passwd('wq-1', 'first-pass\n')
    expect(a).toMatchObject({ code: 0, out: expect.stringContaining('added wq-1') })
    await passwd('wq-2', 'other\n')
    const before = readFileSync(file, 'utf8')
    const b = await passwd('wq-1', 'second-pass\n')
    expect(b.out).toContain('updated wq-1')
    const after = readFileSync(file, 'utf8')
    expect(after).not.toContain('first-pass')
    expect(after).not.toContain('second-pass')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const parsed = parsePasswordFile(after, file)
    if ('problems' in parsed) throw new Error(parsed.problems.join())
    expect([...parsed.users.keys()]).toEqual(['wq-1', 'wq-2'])
    expect(await verifyPassword('second-pass', parsed.users.get('wq-1')!)).toBe(true)
    // wq-2's line is kept byte for byte.
    expect(after.split('\n')[1]).toBe(before.split('\n')[1])
    const empty = await passwd('wq-3', '\n')
    expect(empty.code).toBe(1)
    expect(readFileSync(file, 'utf8')).toBe(after)
    const usage = await promisify(execFile)(process.execPath, [bin, 'help', 'passwd'])
    expect(usage.stdout).toContain('smartcity passwd FILE USER')
  })

  it('smartcity passwd refuses to touch a file that is not a credentials file', async () => {
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'smartcity.js')
    const file = join(tmp.dir, 'gateway.yaml')
    writeFileSync(file, 'broker:\n  type: embedded\n')
    const r = await new Promise<number | null>((resolve) => {
      const p = spawn(process.execPath, [bin, 'passwd', file, 'wq-1'], { stdio: ['pipe', 'ignore', 'ignore'] })
      p.on('exit', resolve)
      p.stdin.end('pw\n')
    })
    expect(r).toBe(1)
    expect(readFileSync(file, 'utf8')).toBe('broker:\n  type: embedded\n')
  })
})
