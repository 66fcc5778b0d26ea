/**
 * The operators' page as files: every file under dashboards/web/ (ES modules, style sheet, the i18n
 * catalogues, the demo district's GeoJSON) at its path, and `index.html` at `/`. No build step: what is in
 * the folder is what the browser gets. The routes are made from the folder's listing when the gateway starts
 * (no wildcard route, so nothing outside the folder can be named), and they are open: the page and its
 * scripts hold no data; the page asks for a token and sends it on /api/*.
 */
import { readdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import type { FastifyInstance } from 'fastify'

const CONTENT_TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  json: 'application/json; charset=utf-8',
  geojson: 'application/geo+json; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  woff2: 'font/woff2',
}

/** The files the page serves, as URL paths (`/app.js`, `/i18n/zh-CN.json`), from the folder's listing. */
export function webFiles(webDir: string): string[] {
  let names: string[]
  try {
    names = readdirSync(webDir, { recursive: true, encoding: 'utf8' })
  } catch {
    return []
  }
  return names
    .filter((n) => CONTENT_TYPES[n.split('.').pop() ?? ''] !== undefined && !n.split(sep).some((part) => part.startsWith('.')))
    .map((n) => `/${relative(webDir, join(webDir, n)).split(sep).join('/')}`)
    .sort()
}

export function registerWebFiles(app: FastifyInstance, webDir: string): void {
  for (const path of webFiles(webDir)) {
    const file = join(webDir, ...path.slice(1).split('/'))
    const type = CONTENT_TYPES[path.split('.').pop()!]!
    const text = type.includes('charset')
    const handler = async (_req: unknown, reply: import('fastify').FastifyReply) => {
      const body = await readFile(file, text ? 'utf8' : undefined)
      return reply.header('content-type', type).header('cache-control', 'no-cache').send(body)
    }
    app.get(path, { config: { access: 'open' } }, handler)
    if (path === '/index.html') app.get('/', { config: { access: 'open' } }, handler)
  }
}
