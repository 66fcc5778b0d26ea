/**
 * Serial devices of the demo district, each on a socat pseudo-terminal pair that the gateway opens as a real
 * serial port: a BeiDou/GNSS receiver on a bus driving a loop through Gaoxin (NMEA 0183 at 1 Hz, a tunnel
 * where the fix is lost), and an RS-485 bus of DL/T 645-2007 meters (2400 8E1) polled by the gateway.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Dlt645Simulator, startDlt645Simulator } from '../../simulators/dlt645/index.ts'
import { type GnssSimulator, startGnssSimulator } from '../../simulators/gnss/index.ts'
import { createPtyPair, type PtyPair } from '../../simulators/serial/pty.ts'
import type { DemoPart } from './types.ts'

const GNSS_DEVICE = 'bus-101-gnss'
const METERS = [
  { address: '000000000161', device: 'meter-0161', site: 'Gaoxin No.1 substation, feeder 3', baseLoadKw: 42 },
  { address: '110101000002', device: 'meter-0002', site: 'Software Park building D', baseLoadKw: 18 },
  { address: '110101000003', device: 'meter-0003', site: 'Jinye Rd street lighting cabinet', baseLoadKw: 6 },
] as const

function haveSocat(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v socat'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

export const serialPart: DemoPart = {
  id: 'serial',
  name: 'serial devices (BeiDou NMEA receiver, DL/T 645 meter bus)',
  async prepare(ctx) {
    if (!haveSocat()) throw new Error('socat is not installed (apt-get install socat)')
    const dir = mkdtempSync(join(tmpdir(), 'smartcity-serial-'))
    const ptys: PtyPair[] = []
    let gnss: GnssSimulator | undefined
    let meters: Dlt645Simulator | undefined
    const stop = async () => {
      await gnss?.stop().catch(() => undefined)
      await meters?.stop().catch(() => undefined)
      for (const p of ptys) await p.stop()
      rmSync(dir, { recursive: true, force: true })
    }
    try {
      const gnssPty = await createPtyPair(join(dir, 'gnss-receiver'), join(dir, 'gnss-gateway'))
      ptys.push(gnssPty)
      const busPty = await createPtyPair(join(dir, 'rs485-meters'), join(dir, 'rs485-gateway'))
      ptys.push(busPty)
      gnss = await startGnssSimulator({ path: gnssPty.a, speedKmh: 35 })
      meters = await startDlt645Simulator({ path: busPty.a, meters: METERS.map((m) => ({ address: m.address, baseLoadKw: m.baseLoadKw })) })
      return {
        sources: [
          { type: 'nmea' as const, id: 'gnss-bus-101', device: GNSS_DEVICE, serial: { path: gnssPty.b, baudRate: 9600 } },
          {
            type: 'dlt645' as const,
            id: 'dlt645-bus-1',
            serial: { path: busPty.b },
            meters: METERS.map((m) => ({ address: m.address, device: m.device })),
            pollIntervalMs: 5_000,
            timeSyncIntervalSec: 3_600,
          },
        ],
        devices: [
          { id: GNSS_DEVICE, kind: 'position' as const, district: ctx.district, site: 'bus route 101 (Gaoxin loop)', protocol: 'nmea' as const, offlineAfterSec: 30 },
          ...METERS.map((m) => ({ id: m.device, kind: 'energy_meter' as const, district: ctx.district, site: m.site, protocol: 'dlt645' as const, offlineAfterSec: 60 })),
        ],
        async start() {},
        describe: () => [
          `GNSS receiver (BeiDou + GPS, NMEA 0183 at 1 Hz) on ${gnssPty.a} <-> gateway ${gnssPty.b}: bus 101 loops through Gaoxin, fix lost in a tunnel`,
          `DL/T 645-2007 bus (2400 8E1) on ${busPty.a} <-> gateway ${busPty.b}: meters ${METERS.map((m) => m.address).join(', ')} polled every 5 s`,
        ],
        stop,
      }
    } catch (err) {
      await stop()
      throw err
    }
  },
}
