/**
 * Property-based fuzzing of every framer and decoder (issue 13), shared by `npm test` (test/fuzz/codecs.test.ts,
 * about 1,000 cases each) and `npm run bench -- fuzz` (bench/fuzz.ts, 100,000 each). No vitest here: the
 * benchmark imports it too.
 *
 * Each target is a byte stream as a source sees it: chunks of random bytes, real frames (from the public
 * sources the device tests cite, and the test fixtures), mutated real frames (a byte changed, cut short,
 * doubled, bytes inserted), joined and split at random points. Every chunk goes through the protocol's
 * framer; every frame through `decode`, `readings` (with per-stream state) and `normalizeReading`; at the end
 * `flush`. The property: nothing throws, and every refusal on the way is a key of REASONS.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { JSON_LIMITS, jsonItems } from '../../devices/common/json-readings.ts'
import type { NormalizeContext, ProtocolCodec, Reading } from '../../devices/common/kind.ts'
import { createMbapFramer, encodeMbap } from '../../devices/common/modbus/mbap.ts'
import { modbusRtuCodec } from '../../devices/common/modbus/codec.ts'
import { decodeRequest, decodeResponse } from '../../devices/common/modbus/pdu.ts'
import { createRtuFramer, decodeRtu, encodeRtu } from '../../devices/common/modbus/rtu.ts'
import { normalizeJson, normalizeReading, type Refusal } from '../../devices/common/normalize.ts'
import type { Point } from '../../devices/common/point.ts'
import { isReason } from '../../devices/common/reasons.ts'
import { dlt645Codec } from '../../devices/energy-meter/dlt645/index.ts'
import { etcRsuCodec } from '../../devices/etc/rsu/index.ts'
import { deviceKind, deviceKinds } from '../../devices/index.ts'
import { jt808Codec } from '../../devices/position/jt808/index.ts'
import { nmeaCodec } from '../../devices/position/nmea/index.ts'
import { hj212Codec } from '../../devices/water-quality/hj212/index.ts'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures')
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

/** The hex frames of a fixture file (one per line, `#` comments). */
function hexFile(path: string): Buffer[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map(hex)
}

/** Sentences of a gpsd regression log (test/fixtures/nmea, BSD licence in COPYING.gpsd), with their CRLF. */
function nmeaLog(path: string, n: number): Buffer[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('$'))
    .slice(0, n)
    .map((l) => Buffer.from(`${l.trimEnd()}\r\n`, 'latin1'))
}

// Modbus Application Protocol Specification V1.1b3, sections 6.1 (Read Coils: response 01 03 CD 6B 05) and
// 6.3 (Read Holding Registers): request
// 03 006B 0003, response 03 06 022B 0000 0064; as RTU frames of unit 17 (the spec's Modbus over serial line
// examples use slave 17) and as Modbus TCP ADUs.
const MB_REQ = hex('03 00 6B 00 03')
const MB_RES = hex('03 06 02 2B 00 00 00 64')
const MB_EXC = hex('83 02')

// The standard's own example (HJ 212-2017 section 6.6, the CRC of Appendix A) and a HJ/T 212-2005 frame
// from a PHP gateway's sample, as in test/devices/water-quality/hj212.test.ts.
const HJ212 = [
  Buffer.from('##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n'),
  Buffer.from('##0149ST=32;CN=2011;PW=123456;MN=12091200160055;CP=&&DataTime=20150430135830;B01-Rtd=880.17,B01-Flag=N;011-Rtd=999.99,011-Flag=N;060-Rtd=30.18,060-Flag=N&&F881\r\n'),
]

// SmallChi/JT808's tests (src/JT808.Protocol.Test/MessageBody/JT808_0x0200Test.cs Demo2 and Test6, a real
// terminal), as in test/devices/position/jt808.test.ts.
const JT808 = [
  hex('7E 02 00 00 26 12 34 56 78 90 12 00 7D 02 00 00 00 01 00 00 00 02 00 BA 7F 0E 07 E4 F1 1C 00 28 00 3C 00 00 18 10 15 10 10 10 01 04 00 00 00 64 02 02 00 7D 01 13 7E'),
  hex('7E 02 00 00 3C 04 00 21 68 20 87 1D 0C 00 00 00 00 00 0C 00 C2 01 5B 6C 6E 06 C8 56 98 00 1E 00 00 00 E0 18 09 16 10 35 37 01 04 00 05 4C 7D 01 02 02 00 00 03 02 00 00 25 04 00 00 00 00 2B 04 00 00 00 00 30 01 1D 31 01 0D 97 7E'),
]

// DL/T 645-2007 replies from REPEATER and ClouSoft/MeterPro, as in test/devices/energy-meter/dlt645-freeze.test.ts.
const DLT645 = [hex('68 60 39 46 11 98 19 68 91 0a 34 37 33 37 93 6c 79 44 cb 4c b4 16'), hex('68 12 00 00 00 10 20 68 91 09 34 33 39 38 33 33 3C 43 48 B1 16'), hex('FE FE FE FE 68 12 00 00 00 10 20 68 91 07 33 40 63 36 5A 33 33 76 16')]

/** What one stream gave: problems (an exception, an uncatalogued reason) and counts, for the benchmark. */
export interface StreamOutcome {
  problems: string[]
  frames: number
  refusals: number
  readings: number
  reasons: Set<string>
}

/** One framer-and-decoder pipeline, as its source runs it. */
export interface FuzzTarget {
  name: string
  seeds: readonly Buffer[]
  run(chunks: readonly Buffer[]): StreamOutcome
}

const CTX: NormalizeContext = { receivedAt: 1_795_000_000_000 }

function outcome(): StreamOutcome {
  return { problems: [], frames: 0, refusals: 0, readings: 0, reasons: new Set() }
}

function refusal(o: StreamOutcome, where: string, reason: unknown): void {
  o.refusals++
  o.reasons.add(String(reason))
  if (!isReason(reason)) o.problems.push(`${where}: uncatalogued reason ${JSON.stringify(reason)}`)
}

function guarded(o: StreamOutcome, where: string, f: () => void): void {
  try {
    f()
  } catch (err) {
    o.problems.push(`${where} threw: ${(err as Error)?.stack ?? String(err)}`)
  }
}

/** Readings as the pipeline takes them: each validated and normalized on its own. */
function normalizeAll(o: StreamOutcome, where: string, out: { readings: Reading[]; refused?: { reason: unknown }[] }): void {
  for (const r of out.refused ?? []) refusal(o, `${where}.readings`, r.reason)
  for (const r of out.readings) {
    o.readings++
    const kind = deviceKind(r.kind)
    if (!kind) {
      o.problems.push(`${where}: a reading of no kind ${r.kind}`)
      continue
    }
    if ('json' in r) {
      const refused: Refusal[] = []
      normalizeJson(kind, r.type, r.json, CTX, [], refused)
      for (const x of refused) refusal(o, `${where}.normalize`, x.reason)
    } else {
      const n = normalizeReading(kind, r.type, r.value, CTX)
      if (!n.ok) refusal(o, `${where}.normalize`, n.reason)
    }
  }
}

/** A ProtocolCodec's byte stream: framer -> decode -> readings -> normalize, then flush. */
function codecTarget<F, D, S>(name: string, codec: ProtocolCodec<F, D, S>, seeds: readonly Buffer[], framer: () => ReturnType<ProtocolCodec<F, D, S>['framer']> = () => codec.framer()): FuzzTarget {
  return {
    name,
    seeds,
    run(chunks) {
      const o = outcome()
      guarded(o, `${name} stream`, () => {
        const f = framer()
        const state = codec.newState()
        for (const c of chunks) {
          for (const e of f.push(c)) {
            if (!e.ok) {
              refusal(o, `${name}.framer`, e.reason)
              continue
            }
            o.frames++
            const d = codec.decode(e.frame, state)
            if (!d.ok) {
              refusal(o, `${name}.decode`, d.reason)
              continue
            }
            normalizeAll(o, name, codec.readings(d.value, state, CTX))
            if (codec.frameJson) JSON.stringify(codec.frameJson(d.value))
          }
        }
        if (codec.flush) normalizeAll(o, `${name}.flush`, codec.flush(state, CTX))
      })
      // `smartcity decode`'s path: each chunk as one hex line.
      guarded(o, `${name}.parseLine`, () => {
        for (const c of chunks.slice(0, 3)) {
          const p = codec.parseLine(codec.protocol === 'nmea' ? c.toString('latin1') : c.toString('hex'))
          if (!p.ok) refusal(o, `${name}.parseLine`, p.reason)
          else {
            const d = codec.decode(p.value, codec.newState())
            if (!d.ok) refusal(o, `${name}.parseLine.decode`, d.reason)
          }
        }
      })
      return o
    },
  }
}

/** Modbus TCP as the modbus-tcp source reads it: MBAP framing, then the PDU as a response and as a request. */
const modbusTcp: FuzzTarget = {
  name: 'modbus-tcp',
  seeds: [encodeMbap(1, 17, MB_REQ), encodeMbap(1, 17, MB_RES), encodeMbap(2, 17, MB_EXC)],
  run(chunks) {
    const o = outcome()
    guarded(o, 'modbus-tcp', () => {
      const f = createMbapFramer()
      for (const c of chunks) {
        for (const e of f.push(c)) {
          if (!e.ok) {
            refusal(o, 'modbus-tcp.framer', e.reason)
            continue
          }
          o.frames++
          for (const r of [decodeResponse(e.frame.pdu), decodeResponse(e.frame.pdu, 16), decodeRequest(e.frame.pdu)]) if (!r.ok) refusal(o, 'modbus-tcp.pdu', r.reason)
        }
      }
    })
    return o
  },
}

/** Modbus RTU requests, as the simulators' slaves frame them (the gateway's side frames responses). */
const modbusRtuRequests: FuzzTarget = {
  name: 'modbus-rtu-requests',
  seeds: [encodeRtu(17, MB_REQ), encodeRtu(17, hex('06 00 01 00 03')), encodeRtu(17, hex('10 00 01 00 02 04 00 0A 01 02'))],
  run(chunks) {
    const o = outcome()
    guarded(o, 'modbus-rtu-requests', () => {
      const f = createRtuFramer('request')
      for (const c of chunks) {
        for (const e of f.push(c)) {
          if (!e.ok) {
            refusal(o, 'modbus-rtu-requests.framer', e.reason)
            continue
          }
          o.frames++
          const r = decodeRequest(e.frame.pdu)
          if (!r.ok) refusal(o, 'modbus-rtu-requests.pdu', r.reason)
        }
      }
      const d = decodeRtu(Buffer.concat(chunks as Buffer[]).subarray(0, 256))
      if (!d.ok) refusal(o, 'modbus-rtu.decodeRtu', d.reason)
    })
    return o
  },
}

/** Station readings as the MQTT stations send them (test/helpers/gateway.ts stationReading), and elevators'. */
const JSON_SEEDS = [
  Buffer.from('{"ts":1795000000000,"ph":7.05,"water_temp_c":18.4,"dissolved_oxygen_mg_l":8.2,"turbidity_ntu":3.3,"conductivity_us_cm":452,"cod_mg_l":12.3,"ammonia_nitrogen_mg_l":0.31}'),
  Buffer.from('[{"ph":7.1},{"ph":"x"},{"ts":"2026-11-30T08:00:00+08:00","ph":7.2}]'),
  Buffer.from('{"floor":3,"moving":true,"door_state":"closed","ts":1795000000000}'),
  Buffer.from('{"event":"door_fault","active":true,"ts":1795000000001}'),
]

/**
 * JSON over MQTT: the payload for every kind and reading type it could be published as (telemetry and
 * event, the fast path included), as the pipeline takes it, plus jsonItems on its own with small limits.
 */
const jsonReadings: FuzzTarget = {
  name: 'json-readings',
  seeds: JSON_SEEDS,
  run(chunks) {
    const o = outcome()
    const payload = Buffer.concat(chunks as Buffer[])
    for (const kind of deviceKinds) {
      for (const type of ['telemetry', 'event']) {
        guarded(o, `json ${kind.kind} ${type}`, () => {
          const points: Point[] = []
          const refused: Refusal[] = []
          const n = normalizeJson(kind, type, payload, CTX, points, refused)
          o.readings += n
          for (const r of refused) refusal(o, `json ${kind.kind} ${type}`, r.reason)
        })
      }
    }
    guarded(o, 'jsonItems', () => {
      const j = jsonItems(payload.toString('utf8'), { ...JSON_LIMITS, maxItems: 8, maxDepth: 3 })
      if (!j.ok) refusal(o, 'jsonItems', j.reason)
    })
    return o
  },
}

export function fuzzTargets(): FuzzTarget[] {
  return [
    codecTarget('jt808', jt808Codec, JT808),
    codecTarget('hj212', hj212Codec, HJ212),
    codecTarget('nmea', nmeaCodec, [...nmeaLog(join(FIXTURES, 'nmea', 'skytraq.log.chk'), 12), ...nmeaLog(join(FIXTURES, 'nmea-sirf-trig', 'beidou-bd.log.chk'), 12)]),
    codecTarget('dlt645', dlt645Codec, DLT645),
    // The gateway's side of a line frames responses (gateway/sources/modbus); requests: modbus-rtu-requests.
    codecTarget('modbus-rtu', modbusRtuCodec, [encodeRtu(17, MB_RES), encodeRtu(17, MB_EXC), encodeRtu(17, hex('01 03 CD 6B 05'))]),
    modbusRtuRequests,
    modbusTcp,
    codecTarget('etc-rsu', etcRsuCodec('auto'), [...hexFile(join(FIXTURES, 'etc-rsu', 'passage.hex')), ...hexFile(join(FIXTURES, 'etc-rsu', 'passage-2019.hex'))]),
    codecTarget('etc-rsu-classic', etcRsuCodec('classic'), hexFile(join(FIXTURES, 'etc-rsu', 'passage.hex'))),
    codecTarget('etc-rsu-2019', etcRsuCodec('2019'), hexFile(join(FIXTURES, 'etc-rsu', 'passage-2019.hex'))),
    jsonReadings,
  ]
}

/** A real frame changed the ways line noise, a bad device or an attacker would change it. */
function mutated(seeds: readonly Buffer[]): fc.Arbitrary<Buffer> {
  const seed = fc.constantFrom(...seeds)
  return fc.oneof(
    // One byte set to any value.
    fc.tuple(seed, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([s, at, v]) => {
      const b = Buffer.from(s)
      b[at % b.length] = v
      return b
    }),
    // Cut short, or only its tail.
    fc.tuple(seed, fc.nat()).map(([s, at]) => s.subarray(0, at % (s.length + 1))),
    fc.tuple(seed, fc.nat()).map(([s, at]) => s.subarray(at % (s.length + 1))),
    // Random bytes inserted.
    fc.tuple(seed, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([s, at, ins]) => {
      const i = at % (s.length + 1)
      return Buffer.concat([s.subarray(0, i), Buffer.from(ins), s.subarray(i)])
    }),
    // A run of bytes removed.
    fc.tuple(seed, fc.nat(), fc.integer({ min: 1, max: 16 })).map(([s, at, n]) => {
      const i = at % (s.length + 1)
      return Buffer.concat([s.subarray(0, i), s.subarray(i + n)])
    }),
    // Doubled (a retransmission glued to itself).
    seed.map((s) => Buffer.concat([s, s])),
    // Several bytes changed.
    fc.tuple(seed, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 2, maxLength: 6 })).map(([s, edits]) => {
      const b = Buffer.from(s)
      for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v
      return b
    }),
  )
}

/** JSON-ish text: random JSON values, deep and wide ones, strings with brackets, and mutated readings. */
const jsonText: fc.Arbitrary<Buffer> = fc.oneof(
  fc.json({ depthSize: 'medium' }).map((s) => Buffer.from(s)),
  fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  fc.integer({ min: 1, max: 200 }).map((n) => Buffer.from(`${'['.repeat(n)}${']'.repeat(n)}`)),
  fc.integer({ min: 1, max: 200 }).map((n) => Buffer.from(`${'{"a":'.repeat(n)}1${'}'.repeat(n)}`)),
  fc.array(fc.record({ ph: fc.oneof(fc.double(), fc.string(), fc.constant(null)), ts: fc.oneof(fc.integer(), fc.string()) }), { maxLength: 20 }).map((a) => Buffer.from(JSON.stringify(a))),
  fc.string({ unit: 'binary', maxLength: 60 }).map((s) => Buffer.from(s)),
)

/** The chunks of one stream: random bytes, real frames and mutated ones, joined and split at random points. */
export function streamArb(t: FuzzTarget): fc.Arbitrary<Buffer[]> {
  const piece = t.name === 'json-readings' ? fc.oneof(jsonText, mutated(t.seeds), fc.constantFrom(...t.seeds)) : fc.oneof(fc.uint8Array({ maxLength: 96 }).map((a) => Buffer.from(a)), mutated(t.seeds), fc.constantFrom(...t.seeds))
  return fc
    .tuple(fc.array(piece, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }))
    .map(([pieces, cuts]) => {
      if (t.name === 'json-readings') return [Buffer.concat(pieces.slice(0, 1))]
      const all = Buffer.concat(pieces)
      const at = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b)
      const out: Buffer[] = []
      let from = 0
      for (const c of at) {
        out.push(all.subarray(from, c))
        from = c
      }
      out.push(all.subarray(from))
      return out.filter((b) => b.length > 0)
    })
}
