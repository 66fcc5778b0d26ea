/**
 * The NMEA source on a real serial port (a socat pseudo-terminal) fed by the GNSS simulator. Pulling the
 * pseudo-terminal away (socat killed: the links vanish, like a USB adapter pulled) and bringing it back:
 * readings resume without a restart, nothing crashes.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { withChecksum } from '../../../devices/position/nmea/index.ts'
import { createNmeaSource } from '../../../gateway/sources/nmea/index.ts'
import { NmeaSourceConfig } from '../../../gateway/sources/nmea/config.ts'
import { openSerial, SerialPortConfig } from '../../../gateway/transports/serial.ts'
import { startGnssSimulator } from '../../../simulators/gnss/index.ts'
import { createPtyPair, type PtyPair } from '../../../simulators/serial/pty.ts'
import { have, tempDir } from '../../helpers/env.ts'
import { sleep, waitFor } from '../../helpers/net.ts'
import { recordingContext } from './record-context.ts'

describe.skipIf(!have('socat'))('NMEA source on a pseudo-terminal', () => {
  const cleanups: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c()
    cleanups.length = 0
  })

  it('pulling the pseudo-terminal away and bringing it back: readings resume, nothing crashes', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.cleanup)
    const A = join(tmp.dir, 'receiver')
    const B = join(tmp.dir, 'gateway')
    let pty: PtyPair = await createPtyPair(A, B)
    cleanups.push(() => pty.stop())
    let sim = await startGnssSimulator({ path: pty.a, rateHz: 5, tunnels: [] })
    cleanups.push(() => sim.stop())

    const src = createNmeaSource(NmeaSourceConfig.parse({ type: 'nmea', device: 'bus-12-gnss', serial: { path: B, reconnectMinMs: 50, reconnectMaxMs: 300 }, idleFlushMs: 80 }))
    const ctx = recordingContext(tmp.dir)
    await src.start(ctx)
    cleanups.push(() => src.stop())

    const positions = () => ctx.batches.flatMap((b) => b.points).filter((p) => p.measurement === 'position')
    await waitFor(() => positions().length >= 3, 10_000, 'first positions')
    const first = positions()[0]!
    expect(first.tags).toEqual({ system: 'GNSS' })
    expect(first.fields).toMatchObject({ fix_quality: 1, fix_mode: 3 })
    expect(ctx.batches[0]).toMatchObject({ source: 'nmea', device: 'bus-12-gnss', kind: 'position', protocol: 'nmea' })
    expect(ctx.batches[0]!.points.filter((p) => p.measurement === 'satellites').map((p) => p.tags['system']).sort()).toEqual(['BDS', 'GPS'])
    expect(ctx.state('bus-12-gnss')).toBe(true)

    // pull the adapter
    await sim.stop()
    await pty.stop()
    await waitFor(() => ctx.state('bus-12-gnss') === false, 5_000, 'offline after the port vanished')
    expect(ctx.online).toContainEqual({ id: 'bus-12-gnss', online: false, reason: 'port_closed' })
    expect(src.health!().status).toBe('down')
    await sleep(500) // reopen attempts fail meanwhile (ENOENT), with back-off
    const before = positions().length

    // plug it back in
    pty = await createPtyPair(A, B)
    sim = await startGnssSimulator({ path: pty.a, rateHz: 5, tunnels: [] })
    await waitFor(() => positions().length >= before + 3, 10_000, 'positions after the port came back')
    expect(ctx.state('bus-12-gnss')).toBe(true)
    expect(src.health!().status).toBe('ok')
    // times keep increasing across the gap
    const times = positions().map((p) => p.time)
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThan(times[i - 1]!)
    expect(ctx.rejects).toEqual([])
  })

  it('dead-letters garbage and bad checksums with their reasons, counts proprietary sentences, stores fix-less epochs without coordinates', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.cleanup)
    const pty = await createPtyPair(join(tmp.dir, 'a'), join(tmp.dir, 'b'))
    cleanups.push(() => pty.stop())
    const src = createNmeaSource(NmeaSourceConfig.parse({ type: 'nmea', device: 'rx', serial: { path: pty.b }, idleFlushMs: 50 }))
    const ctx = recordingContext(tmp.dir)
    await src.start(ctx)
    cleanups.push(() => src.stop())
    const dev = await openSerial(SerialPortConfig.parse({ path: pty.a }))
    cleanups.push(() => {
      dev.destroy()
    })
    await sleep(300)
    const gga = withChecksum('BDGGA,120000.00,,,,,0,00,,,,,,,')
    const bad = withChecksum('GPGGA,120001.00,3412.0,N,10856.0,E,1,05,1.0,400.0,M,,M,,').replace(/\*..\r\n$/, '*00\r\n')
    dev.write(`\x01\x02noise${gga}$PSTI,030,120000.000,V*00\r\n$PUBX,00*33\r\n${bad}`)
    await waitFor(() => ctx.batches.length >= 1 && ctx.rejects.length >= 2, 5_000, 'a point and two rejects')
    expect(ctx.batches[0]!.points[0]).toMatchObject({ measurement: 'position', tags: { system: 'BDS' }, fields: { fix_quality: 0, fix_mode: 1 } })
    expect(ctx.batches[0]!.points[0]!.fields).not.toHaveProperty('lat')
    expect(ctx.rejects.map((r) => r.reason).sort()).toEqual(['bad_checksum', 'bad_checksum', 'garbage'])
    expect(ctx.rejects.every((r) => r.source === 'nmea' && r.address === pty.b && r.device === 'rx')).toBe(true)
    // $PSTI's checksum is wrong and is rejected; $PUBX is valid and skipped
    expect(src.stats().proprietary).toBe(1)
  })
})
