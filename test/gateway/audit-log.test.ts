import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { auditFiles, createAuditLog, readAuditRecords } from '../../gateway/core/audit-log.ts'
import { tempDir } from '../helpers/env.ts'

const log = pino({ level: 'silent' })
const T0 = Date.parse('2026-12-01T10:00:00.000Z')
const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)

describe('the audit log (JSON lines, rotated, retained)', () => {
  const tmp = tempDir()
  afterAll(() => tmp.cleanup())

  it('appends one JSON line per record in audit-<UTC date>.jsonl, after the caller has returned', () => {
    const dir = join(tmp.dir, 'a')
    let t = T0
    const audit = createAuditLog({ dir, log, now: () => t })
    audit.open()
    audit.record({ actor: 'ops-desk', actorType: 'token', action: 'alarm.ack', target: 'ph_out_of_range/wq-1', address: '10.0.0.5:51234', outcome: 'ok' })
    // Staged, not yet written: record() does no I/O in the caller's turn.
    const file = join(dir, 'audit-2026-12-01.jsonl')
    expect(readFileSync(file, 'utf8')).toBe('')
    audit.flush()
    expect(lines(file)).toEqual([{ time: '2026-12-01T10:00:00.000Z', actor: 'ops-desk', actorType: 'token', action: 'alarm.ack', target: 'ph_out_of_range/wq-1', address: '10.0.0.5:51234', outcome: 'ok' }])
    // The next UTC day starts a new file.
    t = Date.parse('2026-12-02T00:00:01.000Z')
    audit.record({ actor: 'anonymous', actorType: 'anonymous', action: 'http.auth', address: '10.0.0.9:4000', outcome: 'denied', reason: 'bad_token' })
    audit.close()
    expect(lines(join(dir, 'audit-2026-12-02.jsonl'))).toMatchObject([{ action: 'http.auth', reason: 'bad_token', time: '2026-12-02T00:00:01.000Z' }])
    expect(readdirSync(dir).sort()).toEqual(['audit-2026-12-01.jsonl', 'audit-2026-12-02.jsonl'])
  })

  it('continues in audit-<date>.1.jsonl, .2 ... past maxFileBytes, and reopens the last one after a restart', async () => {
    const dir = join(tmp.dir, 'b')
    const audit = createAuditLog({ dir, log, maxFileBytes: 1000, coalesceMs: 0, now: () => T0 })
    audit.open()
    for (let i = 0; i < 40; i++) {
      audit.record({ actor: `t${i}`, actorType: 'token', action: 'device.write', target: `em-${i}`, outcome: 'ok' })
      // One group per turn: rotation is decided per group.
      await new Promise((r) => setImmediate(r))
    }
    audit.close()
    const files = auditFiles(dir)
    expect(files.length).toBeGreaterThan(3)
    expect(files.map((f) => f.index)).toEqual(files.map((_, i) => i))
    for (const f of files) expect(readFileSync(f.file).length).toBeLessThanOrEqual(1000)
    // Nothing lost, in order, across the files.
    expect(readAuditRecords(dir).map((r) => r.actor)).toEqual(Array.from({ length: 40 }, (_, i) => `t${i}`))
    const again = createAuditLog({ dir, log, maxFileBytes: 1000, now: () => T0 })
    again.open()
    again.record({ actor: 'after-restart', actorType: 'system', action: 'config.reload', outcome: 'ok' })
    again.close()
    expect(auditFiles(dir).length).toBe(files.length)
    expect(lines(files.at(-1)!.file).at(-1)).toMatchObject({ actor: 'after-restart' })
  })

  it('removes files older than retentionDays (by the date in their name) at open and on a new day', () => {
    const dir = join(tmp.dir, 'c')
    mkdirSync(dir, { recursive: true })
    for (const f of ['audit-2026-05-01.jsonl', 'audit-2026-06-03.jsonl', 'audit-2026-06-03.1.jsonl', 'audit-2026-06-04.jsonl', 'audit-2026-11-30.jsonl', 'notes.txt']) writeFileSync(join(dir, f), '')
    let t = T0 // 2026-12-01: 180 days before is 2026-06-04
    const audit = createAuditLog({ dir, log, now: () => t })
    audit.open()
    expect(readdirSync(dir).sort()).toEqual(['audit-2026-06-04.jsonl', 'audit-2026-11-30.jsonl', 'audit-2026-12-01.jsonl', 'notes.txt'])
    t += 86_400_000
    audit.record({ actor: 'system', actorType: 'system', action: 'config.reload', outcome: 'ok' })
    audit.flush()
    expect(readdirSync(dir).sort()).toEqual(['audit-2026-11-30.jsonl', 'audit-2026-12-01.jsonl', 'audit-2026-12-02.jsonl', 'notes.txt'])
    audit.close()
    const short = createAuditLog({ dir, log, retentionDays: 1, now: () => t })
    short.open()
    short.close()
    expect(readdirSync(dir).sort()).toEqual(['audit-2026-12-01.jsonl', 'audit-2026-12-02.jsonl', 'notes.txt'])
  })

  it('coalesces a flood of one event into the first record and one record with the repeat count', () => {
    const dir = join(tmp.dir, 'd')
    let t = T0
    const audit = createAuditLog({ dir, log, coalesceMs: 1000, now: () => t })
    audit.open()
    for (let i = 0; i < 5000; i++) {
      t = T0 + Math.floor(i / 10) // 5000 records in 500 ms
      audit.record({ actor: 'wq-7', actorType: 'device', action: 'mqtt.publish', target: 'city/d/water_quality/wq-8/telemetry', address: `10.1.1.7:${40000 + (i % 3)}`, outcome: 'denied', reason: 'acl_denied' })
    }
    // Another kind of event is its own record.
    audit.record({ actor: 'wq-7', actorType: 'device', action: 'mqtt.subscribe', target: 'city/#', address: '10.1.1.7:40000', outcome: 'denied', reason: 'acl_denied' })
    t = T0 + 1500
    audit.flush()
    const got = lines(join(dir, 'audit-2026-12-01.jsonl'))
    expect(got).toHaveLength(3)
    expect(got[0]).toMatchObject({ action: 'mqtt.publish', time: '2026-12-01T10:00:00.000Z' })
    expect(got[0]).not.toHaveProperty('repeated')
    expect(got[1]).toMatchObject({ action: 'mqtt.subscribe' })
    expect(got[2]).toMatchObject({ action: 'mqtt.publish', repeated: 4999, since: '2026-12-01T10:00:00.000Z', time: '2026-12-01T10:00:01.500Z' })
    audit.close()
  })

  it('never throws: a directory it cannot create counts the records as dropped and says so in its health', () => {
    // A regular file where the directory's parent should be: mkdir fails (ENOTDIR), root or not.
    const blocker = join(tmp.dir, 'not-a-dir')
    writeFileSync(blocker, '')
    let dropped = 0
    const audit = createAuditLog({ dir: join(blocker, 'audit'), log, onDropped: (n) => (dropped += n) })
    expect(() => audit.open()).not.toThrow()
    expect(() => audit.record({ actor: 'x', actorType: 'anonymous', action: 'http.auth', outcome: 'denied', detail: 'y'.repeat(10_000) })).not.toThrow()
    expect(audit.health().status).toBe('degraded')
    expect(() => audit.close()).not.toThrow()
    expect(dropped).toBe(1)
  })

  it('clips long fields so one record stays bounded', () => {
    const dir = join(tmp.dir, 'e')
    const audit = createAuditLog({ dir, log, now: () => T0 })
    audit.open()
    audit.record({ actor: 'a'.repeat(5000), actorType: 'device', action: 'mqtt.connect', outcome: 'denied', detail: 'z'.repeat(100_000) })
    audit.close()
    expect(readFileSync(join(dir, 'audit-2026-12-01.jsonl')).length).toBeLessThan(2200)
  })

  it('reads with filters: since, actor, action or a family (mqtt.*), outcome; skips a torn last line', () => {
    const dir = join(tmp.dir, 'f')
    let t = T0
    const audit = createAuditLog({ dir, log, coalesceMs: 0, now: () => t })
    audit.open()
    const rec = (actor: string, action: string, outcome: 'ok' | 'denied') => {
      audit.record({ actor, actorType: 'token', action, outcome })
      t += 60_000
    }
    rec('ops', 'alarm.ack', 'ok')
    rec('ops', 'device.write', 'ok')
    rec('bad', 'mqtt.connect', 'denied')
    rec('bad', 'mqtt.publish', 'denied')
    audit.close()
    writeFileSync(join(dir, 'audit-2026-12-01.jsonl'), '{"time":"2026-12-01T11', { flag: 'a' })
    expect(readAuditRecords(dir)).toHaveLength(4)
    expect(readAuditRecords(dir, { since: T0 + 60_000 }).map((r) => r.action)).toEqual(['device.write', 'mqtt.connect', 'mqtt.publish'])
    expect(readAuditRecords(dir, { actor: 'ops' }).map((r) => r.action)).toEqual(['alarm.ack', 'device.write'])
    expect(readAuditRecords(dir, { action: 'mqtt.*' }).map((r) => r.action)).toEqual(['mqtt.connect', 'mqtt.publish'])
    expect(readAuditRecords(dir, { action: 'mqtt.connect' })).toHaveLength(1)
    expect(readAuditRecords(dir, { outcome: 'denied', until: T0 + 150_000 })).toHaveLength(1)
    expect(readAuditRecords(join(dir, 'none'))).toEqual([])
  })
})
