/**
 * An independent check of the GNSS simulator: its NMEA, written on a socat pseudo-terminal, is read by
 * Debian's gpsd (`gpsd -N -n -b -S <free port> <pty>`); gpsd's TPV and SKY reports must give the same
 * positions, fix modes, speeds and satellites used as our decoder gives for the very bytes the simulator
 * wrote. The route starts in a tunnel, so fix-less epochs are compared too.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createEpochAssembler, createNmeaFramer, decodeSentence, type PositionEpoch } from '../../devices/position/nmea/index.ts'
import { type EpochTruth, startGnssSimulator } from '../../simulators/gnss/index.ts'
import { createPtyPair } from '../../simulators/serial/pty.ts'
import { have, tempDir, which } from '../helpers/env.ts'
import { freePort, waitFor } from '../helpers/net.ts'

interface Tpv {
  mode: number
  time?: string
  lat?: number
  lon?: number
  speed?: number
}

describe.skipIf(!have('socat', 'gpsd'))('GNSS simulator read by gpsd agrees with our decoder', () => {
  const cleanups: (() => Promise<void> | void)[] = []
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c()
  })

  it('same positions, fix modes, speeds and satellites used, epoch by epoch', async () => {
    const tmp = tempDir()
    cleanups.push(tmp.cleanup)
    const pty = await createPtyPair(join(tmp.dir, 'receiver'), join(tmp.dir, 'gpsd'))
    cleanups.push(() => pty.stop())

    const written: string[] = []
    const truths: EpochTruth[] = []
    const sim = await startGnssSimulator({
      path: pty.a,
      tunnels: [[0, 50]],
      startM: 0,
      speedKmh: 36,
      onEpoch: (e) => {
        written.push(...e.lines)
        truths.push(e.truth)
      },
    })
    cleanups.push(() => sim.stop())

    const port = await freePort()
    const gpsd: ChildProcess = spawn(which('gpsd')!, ['-N', '-n', '-b', '-S', String(port), pty.b], { stdio: ['ignore', 'ignore', 'pipe'] })
    let gpsdErr = ''
    gpsd.stderr?.on('data', (d: Buffer) => (gpsdErr += d.toString()))
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (gpsd.exitCode !== null) return resolve()
          gpsd.once('exit', () => resolve())
          gpsd.kill('SIGTERM')
        }),
    )
    const sock: Socket = await waitFor(
      () =>
        new Promise<Socket | undefined>((resolve) => {
          const s = connect(port, '127.0.0.1')
          s.once('connect', () => resolve(s))
          s.once('error', () => resolve(undefined))
        }),
      10_000,
      `gpsd on 127.0.0.1:${port} (${gpsdErr})`,
    )
    cleanups.push(() => {
      sock.destroy()
    })
    const tpvByTime = new Map<number, Tpv>()
    const skies: { nSat: number; gpsUsed: number }[] = []
    let buf = ''
    sock.on('data', (d: Buffer) => {
      buf += d.toString()
      let nl = buf.indexOf('\n')
      while (nl >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        nl = buf.indexOf('\n')
        const j = JSON.parse(line) as { class: string; nSat?: number; satellites?: { used: boolean; gnssid: number }[] } & Tpv
        if (j.class === 'TPV' && j.time) tpvByTime.set(Date.parse(j.time), j)
        if (j.class === 'SKY' && j.nSat !== undefined && j.satellites) {
          skies.push({ nSat: j.nSat, gpsUsed: j.satellites.filter((x) => x.used && x.gnssid === 0).length })
        }
      }
    })
    sock.write('?WATCH={"enable":true,"json":true}\n')

    const fixTimes = () => [...tpvByTime.values()].filter((t) => t.mode >= 2).length
    await waitFor(() => fixTimes() >= 4 && [...tpvByTime.values()].some((t) => t.mode === 1), 20_000, 'gpsd reports with and without a fix')
    // let the epoch gpsd is reporting finish on our side too
    await new Promise((r) => setTimeout(r, 300))

    // our decoder on exactly the bytes the simulator wrote
    const framer = createNmeaFramer()
    const asm = createEpochAssembler()
    const ours: PositionEpoch[] = []
    for (const ev of framer.push(Buffer.from(written.join(''), 'latin1'))) {
      expect(ev.ok).toBe(true)
      if (!ev.ok) continue
      const s = decodeSentence(ev.frame)
      expect(s.ok).toBe(true)
      if (s.ok) ours.push(...asm.push(s.value, Date.now()))
    }
    ours.push(...asm.flush())
    const byTime = new Map(ours.map((e) => [e.time, e]))

    let fixes = 0
    let noFix = 0
    for (const [t, tpv] of tpvByTime) {
      const e = byTime.get(t)
      expect(e, `our epoch at ${new Date(t).toISOString()}`).toBeDefined()
      if (!e) continue
      expect(e.fixMode).toBe(tpv.mode)
      if (tpv.mode >= 2) {
        fixes++
        expect(Math.abs(e.lat! - tpv.lat!)).toBeLessThan(1e-6)
        expect(Math.abs(e.lon! - tpv.lon!)).toBeLessThan(1e-6)
        expect(Math.abs(e.speedKmh! - tpv.speed! * 3.6)).toBeLessThan(0.01)
        // and both agree with where the simulator put the vehicle
        const truth = truths.find((x) => x.time === t)!
        expect(Math.abs(truth.lat - tpv.lat!)).toBeLessThan(1e-6)
      } else {
        noFix++
        expect(e.lat).toBeUndefined()
        expect(e.fixQuality).toBe(0)
      }
    }
    expect(fixes).toBeGreaterThanOrEqual(4)
    expect(noFix).toBeGreaterThanOrEqual(1)
    // Satellites: gpsd's SKY in-view count equals our GPS + BeiDou in view, and its GPS satellites used equal
    // ours. (gpsd 3.22 files NMEA 4.11 BeiDou PRNs 33+ under SBAS and does not mark BeiDou GSA satellites
    // used, so BeiDou "used" cannot be compared with it.)
    const oursSats = new Set(ours.filter((e) => e.fixMode > 1).map((e) => `${(e.satellites.GPS?.inView ?? 0) + (e.satellites.BDS?.inView ?? 0)}/${e.satellites.GPS?.used ?? 0}`))
    const gpsdSats = skies.filter((k) => k.gpsUsed > 0)
    expect(gpsdSats.length).toBeGreaterThan(0)
    for (const k of gpsdSats) expect(oursSats.has(`${k.nSat}/${k.gpsUsed}`)).toBe(true)
  })
})
