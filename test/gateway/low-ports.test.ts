// A listener below port 1024 needs CAP_NET_BIND_SERVICE, which the packaged unit does not have: check-config
// and start-up say so (with the drop-in), and nothing is said for ports >= 1024 or 0 (a free port).
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../gateway/config.ts'
import { lowPorts } from '../../gateway/low-ports.ts'

const cfg = (raw: object) => {
  const r = parseConfig(raw)
  if (!r.ok) throw new Error(r.problems.join('; '))
  return r
}

describe('ports below 1024', () => {
  it('are listed with their keys: broker, HTTP, TCP device servers, an ETC RSU server', () => {
    const r = cfg({
      broker: { type: 'embedded', port: 883, tls: { port: 8883, wsPort: 443, cert: '/c', key: '/k' } },
      http: { port: 80 },
      sources: [{ type: 'jt808', port: 808 }, { type: 'hj212', port: 9212 }, { type: 'etc-rsu', device: 'rsu-1', mode: 'server', host: '127.0.0.1', port: 900 }],
    })
    expect(lowPorts(r.config)).toEqual([
      { key: 'broker.port', port: 883 },
      { key: 'broker.tls.wsPort', port: 443 },
      { key: 'http.port', port: 80 },
      { key: 'sources.0.port', port: 808 },
      { key: 'sources.2.port', port: 900 },
    ])
    expect(r.warnings.join('\n')).toMatch(/ports below 1024 \(broker\.port: 883, .*sources\.2\.port: 900\) need CAP_NET_BIND_SERVICE.*low-ports\.conf/)
  })

  it('are not: the defaults, a free port (0), an ETC RSU the gateway dials, an external broker', () => {
    expect(cfg({}).warnings.filter((w) => w.includes('1024'))).toEqual([])
    const r = cfg({ broker: { type: 'external', url: 'mqtt://127.0.0.1:1883' }, http: { port: 0 }, sources: [{ type: 'etc-rsu', device: 'rsu-1', mode: 'client', host: '127.0.0.1', port: 21 }] })
    expect(lowPorts(r.config)).toEqual([])
  })
})
