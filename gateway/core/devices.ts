/**
 * The device registry: the inventory from config plus devices discovered on the wire, with presence and
 * counters. It writes `device_status` points on every online/offline change and every status interval.
 */
import type { KindName, Point, Protocol } from '../../devices/common/point.ts'
import type { DeviceConfig } from '../config.ts'
import type { DeviceCell, Metrics } from './metrics.ts'
import type { DeviceInfo, DeviceRegistry, DeviceState } from './types.ts'

const NONE: Point[] = []

interface Entry extends DeviceState {
  offlineAfterMs: number
  /** Line-protocol tag string per protocol (`,device=..,district=..`), cached for the hot path. */
  tagCache: Map<string, string>
  /** Its series in /metrics (last seen, online), created when it is first heard of. */
  lastSeenCell: DeviceCell | undefined
}

export interface Registry extends DeviceRegistry {
  /**
   * Presence as a source sees it, deduplicated here so that no source keeps its own "last online" flag:
   * setting the state a device already has writes no status point and touches no metric (an offline
   * device only takes the newer reason, so a device that never answered still says why). Returns whether
   * the presence changed. A device the registry does not know yet is left alone.
   */
  setOnline(id: string, online: boolean, reason?: string): boolean
  /** The device for an accepted frame, created when it is not in the inventory. */
  resolve(id: string, kind: KindName, protocol: Protocol, district: string | undefined, site: string | undefined): Entry
  /** Count an accepted frame. */
  seen(e: Entry, now: number, frames: number): void
  /** Count `n` refused frames or readings of a device (default 1). */
  rejected(id: string, n?: number): void
  /**
   * Called every second: offline detection, points for changes of presence, and this second's share of the
   * periodic status. Every device gets a status point once per status interval, spread round-robin over the
   * interval so that 10,000 devices never cost one long stall of the event loop.
   */
  tick(now: number): Point[]
  drainStatusPoints(): Point[]
  /**
   * A new inventory (configuration reload): devices added are known from now on, devices changed take their
   * new kind, district, site, protocol, options and offline time (presence and counters kept), devices
   * removed are forgotten (a source with `requireInventory` refuses them from now on; one that does not
   * discovers them again from their traffic). Returns the ids added, changed and removed.
   */
  setInventory(inventory: readonly DeviceConfig[]): { added: string[]; changed: string[]; removed: string[] }
}

export function createDeviceRegistry(opts: {
  inventory: readonly DeviceConfig[]
  defaultDistrict: string
  offlineAfterSec: number
  /** Each device's status is written once per this many seconds (ticks). */
  statusIntervalSec: number
  /** `gateway.id`: the tag `instance` of every `device_status` point (which instance of a scaled-out district saw the device). */
  instance?: string
  metrics: Metrics
  now(): number
}): Registry {
  const devices = new Map<string, Entry>()
  const statusQueue: Point[] = []
  // Round-robin over the devices for the periodic status: a snapshot of the device list per round.
  let round: Entry[] = []
  let roundPos = 0

  const statusPoint = (e: Entry, now: number): Point => ({
    measurement: 'device_status',
    tags: { device: e.id, kind: e.kind, district: e.district, ...(e.site ? { site: e.site } : {}), ...(e.protocol ? { protocol: e.protocol } : {}), ...(opts.instance ? { instance: opts.instance } : {}) },
    fields: { online: e.online, last_seen_ms: e.lastSeenMs ?? 0, frames_ok: e.framesOk, frames_rejected: e.framesRejected },
    time: now,
  })

  const make = (info: DeviceInfo, offlineAfterSec: number): Entry => ({
    ...info,
    offlineReason: undefined,
    online: false,
    lastSeenMs: null,
    framesOk: 0,
    framesRejected: 0,
    offlineAfterMs: offlineAfterSec * 1000,
    tagCache: new Map(),
    lastSeenCell: undefined,
  })

  for (const d of opts.inventory) {
    const info: DeviceInfo = { id: d.id, kind: d.kind, district: d.district ?? opts.defaultDistrict, options: d.options, configured: true }
    if (d.site !== undefined) info.site = d.site
    if (d.protocol !== undefined) info.protocol = d.protocol
    devices.set(d.id, make(info, d.offlineAfterSec ?? opts.offlineAfterSec))
  }

  const cellOf = (e: Entry): DeviceCell => {
    let cell = e.lastSeenCell
    if (!cell) {
      cell = { labels: { device: e.id, kind: e.kind }, ms: undefined, on: undefined }
      e.lastSeenCell = cell
      opts.metrics.hot.lastSeen.set(e.id, cell)
    }
    return cell
  }

  const setOnline = (id: string, online: boolean, reason?: string): boolean => {
    const e = devices.get(id)
    if (!e || e.online === online) {
      if (e && !online && reason) e.offlineReason = reason
      return false
    }
    e.online = online
    // Assigned, never deleted: a `delete` gives the entry a hidden class of its own (about 500 bytes a device).
    if (online) e.offlineReason = undefined
    else if (reason) e.offlineReason = reason
    cellOf(e).on = online ? 1 : 0
    statusQueue.push(statusPoint(e, opts.now()))
    return true
  }

  return {
    get: (id) => devices.get(id),
    list: () =>
      [...devices.values()].map((e) => {
        const { tagCache: _t, lastSeenCell: _g, offlineAfterMs: _o, ...state } = e
        return state
      }),
    setOnline,
    resolve(id, kind, protocol, district, site) {
      let e = devices.get(id)
      if (!e) {
        const info: DeviceInfo = { id, kind, district: district ?? opts.defaultDistrict, protocol, options: {}, configured: false }
        if (site !== undefined) info.site = site
        e = make(info, opts.offlineAfterSec)
        devices.set(id, e)
      }
      if (e.protocol === undefined) e.protocol = protocol
      return e
    },
    seen(e, now, frames) {
      e.framesOk += frames
      e.lastSeenMs = now
      cellOf(e).ms = now
      if (!e.online) setOnline(e.id, true)
    },
    rejected(id, n = 1) {
      const e = devices.get(id)
      if (e) e.framesRejected += n
    },
    tick(now) {
      for (const e of devices.values()) {
        if (e.online && e.lastSeenMs !== null && now - e.lastSeenMs > e.offlineAfterMs) setOnline(e.id, false, 'silent')
      }
      const out = statusQueue.splice(0)
      if (roundPos >= round.length) {
        round = [...devices.values()]
        roundPos = 0
      }
      const share = Math.ceil(round.length / Math.max(1, opts.statusIntervalSec))
      for (const end = Math.min(round.length, roundPos + share); roundPos < end; roundPos++) {
        const e = round[roundPos]!
        if (e.lastSeenMs !== null || e.configured) out.push(statusPoint(e, now))
      }
      return out
    },
    drainStatusPoints: () => (statusQueue.length === 0 ? NONE : statusQueue.splice(0)),
    setInventory(inventory) {
      const out = { added: [] as string[], changed: [] as string[], removed: [] as string[] }
      const want = new Map(inventory.map((d) => [d.id, d]))
      for (const [id, e] of devices) {
        if (e.configured && !want.has(id)) {
          devices.delete(id)
          opts.metrics.hot.lastSeen.delete(id)
          out.removed.push(id)
        }
      }
      for (const d of inventory) {
        const e = devices.get(d.id)
        const district = d.district ?? opts.defaultDistrict
        const offlineAfterMs = (d.offlineAfterSec ?? opts.offlineAfterSec) * 1000
        if (!e) {
          const info: DeviceInfo = { id: d.id, kind: d.kind, district, options: d.options, configured: true }
          if (d.site !== undefined) info.site = d.site
          if (d.protocol !== undefined) info.protocol = d.protocol
          devices.set(d.id, make(info, d.offlineAfterSec ?? opts.offlineAfterSec))
          out.added.push(d.id)
          continue
        }
        const same =
          e.configured && e.kind === d.kind && e.district === district && e.site === d.site && (d.protocol === undefined || e.protocol === d.protocol) && e.offlineAfterMs === offlineAfterMs && JSON.stringify(e.options) === JSON.stringify(d.options)
        if (same) continue
        // In place: the pipeline and sources may hold the entry.
        e.kind = d.kind
        e.district = district
        if (d.site !== undefined) e.site = d.site
        else delete e.site
        if (d.protocol !== undefined) e.protocol = d.protocol
        e.options = d.options
        e.offlineAfterMs = offlineAfterMs
        e.tagCache.clear()
        if (e.lastSeenCell) e.lastSeenCell.labels = { device: e.id, kind: e.kind }
        if (!e.configured) out.added.push(d.id)
        else out.changed.push(d.id)
        e.configured = true
      }
      return out
    },
  }
}
