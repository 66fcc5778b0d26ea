import { z } from 'zod'
import { tcpServerLimits } from '../../transports/tcp-server.ts'

/**
 * HJ 212-2017 (and HJ/T 212-2005) data loggers dial in: the gateway is the platform's TCP server.
 *
 * ```yaml
 * - type: hj212
 *   # id: hj212
 *   # host: 127.0.0.1
 *   port: 9212
 *   # Access password (PW) per MN; MNs not listed use defaultPassword, and with neither any PW is taken.
 *   # passwords: {}
 *   # defaultPassword: ~
 *   # requireInventory: false        # true: refuse MNs missing from the inventory (QnRtn 4)
 *   # idleTimeoutSec: 600
 *   # maxSegmentBytes: 1024          # the standard's limit for the data segment
 *   # maxBadFrames: 5
 *   # rateLimitPerSec: 20
 *   # allow: [10.0.0.0/8]            # CIDR ranges (or addresses) that may connect; absent: any
 *   # maxConnections: 10000          # connections at once; more are refused (too_many_connections)
 *   # maxConnectionsPerAddress: ~    # per peer address (none by default)
 *   # proxyProtocol: off             # v2 | v1: behind a TCP load balancer (HAProxy send-proxy-v2)
 *   # trustedProxies: [127.0.0.1/32, ::1/128]   # with proxyProtocol: the only peers that may connect
 * ```
 */
export const Hj212SourceConfig = z.strictObject({
  type: z.literal('hj212'),
  id: z.string().min(1).default('hj212'),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535).default(9212),
  passwords: z.record(z.string().min(1).max(64), z.string().max(64)).default({}),
  defaultPassword: z.string().max(64).nullish(),
  requireInventory: z.boolean().default(false),
  idleTimeoutSec: z.number().int().min(1).max(86_400).default(600),
  maxSegmentBytes: z.number().int().min(64).max(9999).default(1024),
  maxBadFrames: z.number().int().min(1).max(1000).default(5),
  rateLimitPerSec: z.number().min(0.1).max(100_000).default(20),
  ...tcpServerLimits,
})
export type Hj212SourceConfig = z.infer<typeof Hj212SourceConfig>
