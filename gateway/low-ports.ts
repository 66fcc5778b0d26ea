/**
 * Listeners on ports below 1024. Binding one needs CAP_NET_BIND_SERVICE (or root); the packaged
 * smartcity.service has no capabilities at all (`CapabilityBoundingSet=`), so such a configuration
 * would fail to start there. `check-config` and start-up say so, with the drop-in that grants the one
 * capability (packaging/low-ports.conf, docs/install.md "Ports below 1024").
 */
/** What of a validated configuration says where it listens (structural: gateway/config.ts imports this file). */
export interface Listeners {
  broker: { type: string; port?: number; wsPort?: number | undefined; tls?: { port?: number; wsPort?: number | undefined } | undefined }
  http: { enabled: boolean; port: number }
  sources: readonly { type: string; port?: number | undefined; mode?: string }[]
}

/** Each listening port of the configuration below 1024 (0 = any free port: not low), with its key path. */
export function lowPorts(cfg: Listeners): { key: string; port: number }[] {
  const out: { key: string; port: number }[] = []
  const add = (key: string, port: number | undefined) => {
    if (port !== undefined && port > 0 && port < 1024) out.push({ key, port })
  }
  if (cfg.broker.type === 'embedded') {
    add('broker.port', cfg.broker.port)
    add('broker.wsPort', cfg.broker.wsPort)
    add('broker.tls.port', cfg.broker.tls?.port)
    add('broker.tls.wsPort', cfg.broker.tls?.wsPort)
  }
  if (cfg.http.enabled) add('http.port', cfg.http.port)
  cfg.sources.forEach((s, i) => {
    if (s.type === 'jt808' || s.type === 'hj212' || (s.type === 'etc-rsu' && s.mode === 'server')) add(`sources.${i}.port`, s.port)
  })
  return out
}

/** The warning for them, or none. */
export function lowPortWarnings(cfg: Listeners): string[] {
  const low = lowPorts(cfg)
  if (low.length === 0) return []
  const which = low.map((l) => `${l.key}: ${l.port}`).join(', ')
  return [
    `ports below 1024 (${which}) need CAP_NET_BIND_SERVICE; the packaged smartcity.service has no capabilities: install /usr/share/doc/smartcity/examples/low-ports.conf as /etc/systemd/system/smartcity.service.d/low-ports.conf (docs/install.md)`,
  ]
}
