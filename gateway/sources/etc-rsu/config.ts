/**
 * The etc-rsu source's config. Example (commented values are the defaults):
 * ```yaml
 * sources:
 *   - type: etc-rsu
 *     device: rsu-g1            # the RSU's device id
 *     host: 127.0.0.1
 *     port: 9527
 *     # mode: client            # client: dial the RSU (tcp://); server: the RSU dials us (tcp-listen://, one RSU at a time, a newer connection replaces the older); serial: see below
 *     # allow: [192.168.10.21]  # server mode: CIDR ranges (or addresses) the RSU may connect from; absent: any
 *     # serial: { path: /dev/ttyUSB0, baudRate: 115200 }   # with mode: serial (8N1 by default; reconnectMinMs/reconnectMaxMs of its own)
 *     # lane: "1"
 *     # tariff: { "1": 500, "2": 1000, "3": 1500, "4": 2000, "11": 1000, "12": 1500, "13": 2500, "14": 3500, "15": 4500, "16": 5500 }
 *     # blacklist: []           # card ids (network + internal number, 20 hex digits)
 *     # transactionTimeoutMs: 3000
 *     # silentAfterSec: 60
 *     # reconnectMinMs: 2000    # client mode: the wait before redialling, doubling per failure...
 *     # reconnectMaxMs: 30000   # ...up to this (gateway/transports/backoff.ts); `reconnectMs` is the deprecated spelling of reconnectMinMs
 *     # profile: auto           # frame layouts: classic | 2019 | auto (told from the frame lengths) | a vendor's RsuProfile
 *     # ef04: { offset: 0, length: 98 }   # 2019 layout: the EF04 range C0 asks for in every B4 (no default: not asked)
 *     # stationFile: "00...00"  # C6 station field, hex: 86 digits (classic 0019 file) or 80 (2019); default zeros
 * ```
 */
import { z } from 'zod'
import { RSU_PROFILE_CHOICES, RsuProfile, resolveRsuProfile } from '../../../devices/etc/rsu/index.ts'
import { DEFAULT_TARIFF_FEN } from '../../../devices/etc/tariff.ts'
import { serialPortConfig } from '../../transports/serial.ts'
import { Cidr } from '../../transports/tcp-server.ts'

/** The RSU's serial line: 115200 8N1 in the public document (vendors differ). */
export const EtcSerialConfig = serialPortConfig({ baudRate: 115_200 })

/** Client mode's first redial wait when neither `reconnectMinMs` nor the deprecated `reconnectMs` is set. */
export const DEFAULT_RECONNECT_MIN_MS = 2000
export const DEFAULT_RECONNECT_MAX_MS = 30_000

export const EtcRsuSourceConfig = z
  .strictObject({
    type: z.literal('etc-rsu'),
    id: z.string().min(1).default('etc-rsu'),
    /** The RSU's device id (tags `device`); its inventory entry gives district and site. */
    device: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/),
    lane: z.string().min(1).max(64).default('1'),
    /** client: dial the RSU over TCP; server: the RSU dials us; serial: the RSU's serial line (`serial:`). */
    mode: z.enum(['client', 'server', 'serial']).default('client'),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).optional(),
    /** Server mode: CIDR ranges (or addresses) that may connect (absent: any); others are refused (`address_not_allowed`). */
    allow: z.array(Cidr).min(1).optional(),
    serial: EtcSerialConfig.optional(),
    /** Client mode: first wait before redialling (default 2000 ms), doubling per failure up to `reconnectMaxMs`. */
    reconnectMinMs: z.number().int().min(50).optional(),
    reconnectMaxMs: z.number().int().min(50).default(DEFAULT_RECONNECT_MAX_MS),
    /** @deprecated the old spelling of `reconnectMinMs` (before issue 11); `reconnectMinMs` wins when both are set. */
    reconnectMs: z.number().int().min(50).optional(),
    /** Fee in fen by vehicle class (devices/etc/tariff.ts). */
    tariff: z.record(z.string().regex(/^\d+$/), z.number().int().min(0)).default({ ...DEFAULT_TARIFF_FEN }),
    /** Fee for a class missing from the tariff (absent: such a passage ends `unknown_class`). */
    defaultFeeFen: z.number().int().min(0).optional(),
    blacklist: z.array(z.string().regex(/^[0-9A-Fa-f]{1,32}$/)).default([]),
    transactionTimeoutMs: z.number().int().min(50).default(3000),
    silentAfterSec: z.number().positive().default(60),
    /** C0 is sent again when no B0 answers it within this time. */
    initRetryMs: z.number().int().min(100).default(5000),
    /** C0 parameters. */
    init: z
      .strictObject({
        laneMode: z.number().int().min(0).max(255).default(3),
        bstInterval: z.number().int().min(0).max(255).default(10),
        txPower: z.number().int().min(0).max(255).default(10),
        pllChannel: z.number().int().min(0).max(255).default(0),
      })
      .prefault({}),
    /**
     * The station field written to the card with C6, hex: the 0019 file (43 bytes) in the classic layout, 40
     * bytes in the 2019 one; default zeros. With `auto`, a value of the other length is cut or zero-padded
     * at its end to fit the layout the RSU speaks.
     */
    stationFile: z
      .string()
      .regex(/^([0-9A-Fa-f]{80}|[0-9A-Fa-f]{86})$/, 'the station file as 80 hex digits (2019 layout) or 86 (classic)')
      .optional(),
    /**
     * Frame layouts: `classic`, `2019`, `auto` (told from each frame's length, devices/etc/README.md), or a
     * vendor's own profile as data (devices/etc/rsu/layout.ts `RsuProfile`).
     */
    profile: z
      .union([
        z.enum(RSU_PROFILE_CHOICES),
        // YAML reads `profile: 2019` as a number.
        z.literal(2019).transform(() => '2019' as const),
        RsuProfile,
      ])
      .default('auto'),
    /** 2019 layout: the EF04 range the C0 asks the RSU to read with every B4 (kept decoded-only). */
    ef04: z.strictObject({ offset: z.number().int().min(0).max(0xffff), length: z.number().int().min(1).max(0xffff) }).optional(),
  })
  .superRefine((c, ctx) => {
    const fixed = c.profile === 'auto' ? undefined : resolveRsuProfile(c.profile)
    const station = fixed?.frames['C6']?.fields.find((f) => f.name === 'stationFile')?.length
    if (c.stationFile !== undefined && station !== undefined && c.stationFile.length !== station * 2) {
      ctx.addIssue({ code: 'custom', path: ['stationFile'], message: `profile ${fixed?.name} writes a ${station}-byte station file (${station * 2} hex digits)` })
    }
    if (c.ef04 !== undefined && fixed !== undefined && !fixed.frames['C0']?.fields.some((f) => f.name === 'ef04Option')) {
      ctx.addIssue({ code: 'custom', path: ['ef04'], message: `profile ${fixed.name} has no EF04 fields in its C0` })
    }
    if (c.mode === 'serial' && c.serial === undefined) ctx.addIssue({ code: 'custom', path: ['serial'], message: 'mode serial needs serial: { path, baudRate? }' })
    if (c.mode !== 'serial' && c.port === undefined) ctx.addIssue({ code: 'custom', path: ['port'], message: `mode ${c.mode} needs a port` })
  })
export type EtcRsuSourceConfig = z.infer<typeof EtcRsuSourceConfig>

/**
 * Client mode's back-off: `reconnectMinMs`, else the deprecated `reconnectMs`, else 2000 ms; up to
 * `reconnectMaxMs` (never below the minimum: an old `reconnectMs: 60000` keeps its 60 s).
 */
export function reconnectOf(c: EtcRsuSourceConfig): { reconnectMinMs: number; reconnectMaxMs: number } {
  const min = c.reconnectMinMs ?? c.reconnectMs ?? DEFAULT_RECONNECT_MIN_MS
  return { reconnectMinMs: min, reconnectMaxMs: Math.max(min, c.reconnectMaxMs) }
}
