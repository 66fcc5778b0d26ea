import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'

// The page's own module (plain browser JavaScript, no DOM needed), imported as the browser does.
type LatLon = [number, number]
const geo: {
  wgs84ToGcj02(lat: number, lon: number): LatLon
  gcj02ToWgs84(lat: number, lon: number): LatLon
  geojsonToWgs84(g: unknown, datum: string): { features: { geometry: { coordinates: unknown } }[] }
} = await import(pathToFileURL(`${import.meta.dirname}/../../dashboards/web/geo.js`).href)

// Known pairs from googollee/eviltransform's test suite (python/test.py, the TESTS table: wgsLat, wgsLng,
// gcjLat, gcjLng): https://github.com/googollee/eviltransform
const PAIRS: [string, number, number, number, number][] = [
  ['Shanghai', 31.1774276, 121.5272106, 31.17530398364597, 121.531541859215],
  ['Shenzhen', 22.543847, 113.912316, 22.540796131694766, 113.9171764808363],
  ['Beijing', 39.911954, 116.377817, 39.91334545536069, 116.38404722455657],
]

describe('GCJ-02 ↔ WGS-84 in the page (dashboards/web/geo.js)', () => {
  it.each(PAIRS)('WGS-84 → GCJ-02 matches the published pair (%s) to 1e-9 degrees', (_, wLat, wLon, gLat, gLon) => {
    const [lat, lon] = geo.wgs84ToGcj02(wLat, wLon)
    expect(Math.abs(lat - gLat)).toBeLessThan(1e-9)
    expect(Math.abs(lon - gLon)).toBeLessThan(1e-9)
  })

  it.each(PAIRS)('GCJ-02 → WGS-84 gets the receiver position back to better than 1 mm (%s)', (_, wLat, wLon, gLat, gLon) => {
    const [lat, lon] = geo.gcj02ToWgs84(gLat, gLon)
    // 1e-8 degrees is about 1.1 mm of latitude.
    expect(Math.abs(lat - wLat)).toBeLessThan(1e-8)
    expect(Math.abs(lon - wLon)).toBeLessThan(1e-8)
  })

  it('leaves positions outside China alone and shifts the demo district by a few hundred metres', () => {
    expect(geo.wgs84ToGcj02(51.4779, -0.0015)).toEqual([51.4779, -0.0015])
    const [lat, lon] = geo.wgs84ToGcj02(34.2195, 108.8827)
    const m = Math.hypot((lat - 34.2195) * 111_320, (lon - 108.8827) * 111_320 * Math.cos((34.2195 * Math.PI) / 180))
    expect(m).toBeGreaterThan(200)
    expect(m).toBeLessThan(800)
  })

  it('converts every position of a GCJ-02 GeoJSON (polygons and points) and none of a WGS-84 one', () => {
    const [gLat, gLon] = geo.wgs84ToGcj02(34.2, 108.9)
    const fc = {
      type: 'FeatureCollection',
      features: [
        { type: 'Feature', properties: {}, geometry: { type: 'Polygon', coordinates: [[[gLon, gLat], [gLon + 0.01, gLat], [gLon, gLat + 0.01], [gLon, gLat]]] } },
        { type: 'Feature', properties: { device: 'wq-1' }, geometry: { type: 'Point', coordinates: [gLon, gLat, 12] } },
      ],
    }
    const out = geo.geojsonToWgs84(fc, 'gcj02')
    const ring = (out.features[0]!.geometry.coordinates as number[][][])[0]!
    expect(Math.abs(ring[0]![0]! - 108.9)).toBeLessThan(1e-8)
    expect(Math.abs(ring[0]![1]! - 34.2)).toBeLessThan(1e-8)
    const pt = out.features[1]!.geometry.coordinates as number[]
    expect(pt[2]).toBe(12)
    expect(Math.abs(pt[0]! - 108.9)).toBeLessThan(1e-8)
    expect(geo.geojsonToWgs84(fc, 'wgs84')).toBe(fc)
  })
})
