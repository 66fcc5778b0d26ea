/**
 * What the operators' page needs besides its own files and the live stream (docs/dashboard-api.md):
 *   GET /api/ui/config          district, gateway id, time zone, map settings, history or not      (read)
 *   GET /api/ui/geometry        the district's GeoJSON: `http.dashboard.map.geojson`, else the page's demo  (read)
 *   GET /api/whoami             `{actor, actorType, scopes, open}` of the request's token           (read)
 *   GET /vendor/echarts.min.js  ECharts from node_modules (no CDN; the library holds no data)      (open)
 *
 * `http.dashboard` is `true`/`false` (the page on or off) or the object below:
 * ```yaml
 * http:
 *   dashboard:
 *     timeZone: Asia/Shanghai          # dates and times on the page (IANA name)
 *     map:
 *       geojson: /etc/smartcity/district.geojson   # default: the demo district the page ships
 *       datum: gcj02                   # wgs84 (default) or gcj02 (exported from Chinese web maps)
 *       center: [108.88, 34.19]        # [lon, lat] in the file's datum; default: the geometry's extent
 *       zoom: 1.2
 * ```
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { z } from 'zod'

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz })
    return true
  } catch {
    return false
  }
}

export const DashboardConfig = z.strictObject({
  enabled: z.boolean().default(true),
  timeZone: z.string().refine(isTimeZone, 'an IANA time zone name, e.g. Asia/Shanghai').default('Asia/Shanghai'),
  map: z
    .strictObject({
      /** A GeoJSON file (FeatureCollection) of the district. */
      geojson: z.string().min(1).optional(),
      /** The datum of the file's coordinates: receivers report WGS-84/CGCS2000; Chinese web maps export GCJ-02. */
      datum: z.enum(['wgs84', 'gcj02']).default('wgs84'),
      center: z.tuple([z.number().min(-180).max(180), z.number().min(-90).max(90)]).optional(),
      zoom: z.number().positive().max(100).optional(),
    })
    .prefault({}),
})
export type DashboardConfig = z.infer<typeof DashboardConfig>

/** `http.dashboard`: a boolean (page on or off, defaults for the rest) or the settings. */
export const DashboardSetting = z.union([z.boolean(), DashboardConfig]).default(true)

/** The settings of `http.dashboard`, whichever form it was written in. */
export function dashboardOf(v: boolean | DashboardConfig): DashboardConfig {
  return typeof v === 'boolean' ? { ...DashboardConfig.parse({}), enabled: v } : v
}

export interface UiDeps {
  district: string
  gatewayId: string
  dashboard: DashboardConfig
  /** The page's folder (its demo geometry is `geo/demo-district.geojson`). */
  webDir: string
  /** No tokens are configured: every route is open. */
  openAccess(): boolean
  /** `/api/history` has an InfluxDB to read (else it answers 503 NO_HISTORY). */
  history: boolean
}

const require = createRequire(import.meta.url)

/** `{error: {code, message}}`, the workflow's and the page's error shape. */
export function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ error: { code, message } })
}

export function registerUi(app: FastifyInstance, deps: UiDeps): void {
  const demo = join(deps.webDir, 'geo', 'demo-district.geojson')
  const map = deps.dashboard.map
  const source = (): 'config' | 'demo' | 'none' => (map.geojson ? 'config' : existsSync(demo) ? 'demo' : 'none')

  app.get('/api/ui/config', async () => {
    const s = source()
    return {
      district: deps.district,
      gateway: deps.gatewayId,
      timeZone: deps.dashboard.timeZone,
      history: deps.history,
      map: {
        source: s,
        // The demo geometry is drawn in WGS-84 like the receivers' positions.
        datum: s === 'config' ? map.datum : 'wgs84',
        ...(map.center ? { center: map.center } : {}),
        ...(map.zoom !== undefined ? { zoom: map.zoom } : {}),
      },
    }
  })

  app.get('/api/ui/geometry', async (_req, reply) => {
    const s = source()
    if (s === 'none') return sendError(reply, 404, 'NO_GEOMETRY', 'no district geometry: set http.dashboard.map.geojson')
    const file = s === 'config' ? map.geojson! : demo
    let body: string
    try {
      body = await readFile(file, 'utf8')
      const g = JSON.parse(body) as { type?: unknown }
      if (g.type !== 'FeatureCollection' && g.type !== 'Feature') throw new Error(`not GeoJSON: type is ${JSON.stringify(g.type)}, not FeatureCollection`)
    } catch (err) {
      return sendError(reply, 500, 'GEOMETRY_UNREADABLE', `${s === 'config' ? 'http.dashboard.map.geojson' : 'the demo geometry'}: ${(err as Error).message}`)
    }
    return reply.header('content-type', 'application/geo+json; charset=utf-8').header('cache-control', 'no-cache').header('x-geometry-source', s).send(body)
  })

  app.get('/api/whoami', async (req) => {
    const p = req.principal
    const open = deps.openAccess()
    return {
      actor: p?.actor ?? 'anonymous',
      actorType: p?.actorType ?? 'anonymous',
      // Without tokens every request has every scope (auth.ts OPEN).
      scopes: [...(p?.scopes ?? [])].sort(),
      open,
    }
  })

  let echarts: Promise<Buffer> | undefined
  app.get('/vendor/echarts.min.js', { config: { access: 'open' } }, async (_req, reply) => {
    echarts ??= readFile(require.resolve('echarts/dist/echarts.min.js'))
    let body: Buffer
    try {
      body = await echarts
    } catch (err) {
      echarts = undefined
      return sendError(reply, 500, 'VENDOR_MISSING', `echarts is not installed: ${(err as Error).message}`)
    }
    return reply.header('content-type', 'text/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400').send(body)
  })
}
