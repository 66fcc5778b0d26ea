import { z } from 'zod'
import { tcpServerLimits } from '../../transports/tcp-server.ts'

/**
 * JT/T 808 vehicle terminals dial in: the gateway is the platform's TCP server (2013 and 2019 headers).
 *
 * ```yaml
 * - type: jt808
 *   # id: jt808
 *   # host: 127.0.0.1
 *   port: 7808
 *   # Authentication codes from config, by terminal id (phone number without leading zeros). Terminals
 *   # that register (0x0100) get a code derived from authSecret: HMAC-SHA256(authSecret, terminal id).
 *   # authCodes: {}
 *   # authSecret: ...                # default: generated once, kept in <dataDir>/jt808-<id>-secret; give
 *   #                                # every gateway a terminal may reach the same one (${VAR} works)
 *   # allowRegistration: true        # false: only terminals in authCodes or the inventory may register
 *   # requireInventory: false        # true: refuse terminals missing from the inventory
 *   # idleTimeoutSec: 180            # no frame for this long closes the connection
 *   # maxFrameBytes: 2048            # escaped bytes between the 7E flags
 *   # maxBadFrames: 5                # bad frames after which the connection is closed
 *   # rateLimitPerSec: 50            # frames per second per connection (burst twice that)
 *   # allow: [10.0.0.0/8]            # CIDR ranges (or addresses) that may connect; absent: any
 *   # maxConnections: 10000          # connections at once; more are refused (too_many_connections)
 *   # maxConnectionsPerAddress: ~    # per peer address (none by default: terminals share carrier NAT)
 *   # proxyProtocol: off             # v2 | v1: behind a TCP load balancer (HAProxy send-proxy-v2)
 *   # trustedProxies: [127.0.0.1/32, ::1/128]   # with proxyProtocol: the only peers that may connect
 * ```
 */
export const Jt808SourceConfig = z.strictObject({
  type: z.literal('jt808'),
  id: z.string().min(1).default('jt808'),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535).default(7808),
  authCodes: z.record(z.string().regex(/^\d{1,20}$/, 'terminal phone number digits'), z.string().min(1).max(64)).default({}),
  /** Derives the codes issued at registration; the same secret on two gateways gives the same codes. */
  authSecret: z.string().min(16, 'at least 16 characters').optional(),
  allowRegistration: z.boolean().default(true),
  requireInventory: z.boolean().default(false),
  idleTimeoutSec: z.number().int().min(1).max(86_400).default(180),
  maxFrameBytes: z.number().int().min(64).max(64 * 1024).default(2048),
  maxBadFrames: z.number().int().min(1).max(1000).default(5),
  rateLimitPerSec: z.number().min(0.1).max(100_000).default(50),
  ...tcpServerLimits,
})
export type Jt808SourceConfig = z.infer<typeof Jt808SourceConfig>
