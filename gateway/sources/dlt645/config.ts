import { z } from 'zod'
import { type Dlt645Version, normalizeAddress, parseDi } from '../../../devices/energy-meter/dlt645/index.ts'
import { serialPortConfig } from '../../transports/serial.ts'

/** What a master reads from each meter unless the meter says otherwise. */
export const DEFAULT_DIS: Record<Dlt645Version, string[]> = {
  '2007': ['00010000', '00020000', '02010100', '02010200', '02010300', '02020100', '02020200', '02020300', '02030000', '02040000', '02060000', '02800002'],
  '1997': ['9010', '9020', 'B611', 'B612', 'B613', 'B621', 'B622', 'B623', 'B630'],
}

const Meter = z.strictObject({
  /** Meter address as printed on it (up to 12 digits, left-padded with 0). */
  address: z.string().transform((a, ctx) => {
    const n = normalizeAddress(a)
    if (!n || n.includes('A')) {
      ctx.addIssue({ code: 'custom', message: 'a meter address is 1..12 decimal digits' })
      return z.NEVER
    }
    return n
  }),
  /** Device id (default `dlt645-<address>`). */
  device: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/).optional(),
  /** Data identifiers to read from this meter (default: the source's `dis`). One the table does not know
   * is read too: the reply counts for the meter's presence and gives no field. */
  dis: z.array(z.string()).min(1).optional(),
})

/**
 * A DL/T 645 master on an RS-485 bus: polls the configured data identifiers of each meter in turn.
 *
 * ```yaml
 * - type: dlt645
 *   id: dlt645-bus-1           # source id (default: dlt645)
 *   serial:
 *     path: /dev/ttyUSB1
 *     # baudRate: 2400
 *     # dataBits: 8
 *     # parity: even
 *     # stopBits: 1
 *   # version: '2007'          # or '1997'
 *   meters:
 *     - address: '000000000161'
 *       # device: dlt645-000000000161
 *       # dis: [...]           # default: the source's dis
 *   # dis: [00010000, 00020000, 02010100, ...]   # DEFAULT_DIS for the version
 *   # pollIntervalMs: 5000     # one cycle over every meter
 *   # responseTimeoutMs: 800   # a silent meter costs this once per cycle, then the next meter is polled
 *   # preamble: 4              # FE wake-up bytes before each request
 *   # offlineAfterMisses: 2    # cycles without an answer before the meter is offline
 *   # discover: false          # read the address of a lone meter with AAAAAAAAAAAA (0x13) at start
 *   # timeSyncIntervalSec: 0   # broadcast time (0x08 to 999999999999) every N s; 0 = off
 * ```
 */
export const Dlt645SourceConfig = z
  .strictObject({
    type: z.literal('dlt645'),
    id: z.string().min(1).default('dlt645'),
    serial: serialPortConfig({ baudRate: 2400, dataBits: 8, parity: 'even', stopBits: 1 }),
    version: z.enum(['2007', '1997']).default('2007'),
    meters: z.array(Meter).default([]),
    dis: z.array(z.string()).min(1).optional(),
    pollIntervalMs: z.number().int().min(100).max(3_600_000).default(5_000),
    responseTimeoutMs: z.number().int().min(20).max(10_000).default(800),
    preamble: z.number().int().min(0).max(8).default(4),
    offlineAfterMisses: z.number().int().min(1).max(100).default(2),
    discover: z.boolean().default(false),
    timeSyncIntervalSec: z.number().int().min(0).max(86_400 * 7).default(0),
  })
  .superRefine((c, ctx) => {
    // Any well-formed identifier: a meter answers DIs this table does not know (vendor and newer ones), and
    // such a reply still shows the meter is there; `smartcity decode dlt645` shows its raw data.
    const check = (list: string[] | undefined, path: (string | number)[]) => {
      for (const [i, d] of (list ?? []).entries()) {
        if (parseDi(c.version, d) === undefined) {
          ctx.addIssue({ code: 'custom', path: [...path, i], message: `${d} is not a DL/T 645-${c.version} data identifier (${c.version === '2007' ? 8 : 4} hex digits)` })
        }
      }
    }
    check(c.dis, ['dis'])
    for (const [i, m] of c.meters.entries()) check(m.dis, ['meters', i, 'dis'])
    if (c.meters.length === 0 && !c.discover) ctx.addIssue({ code: 'custom', path: ['meters'], message: 'configure at least one meter, or discover: true' })
  })
export type Dlt645SourceConfig = z.infer<typeof Dlt645SourceConfig>
