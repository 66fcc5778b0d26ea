// Datums. Receivers (BeiDou/GPS) report WGS-84/CGCS2000, which agree to centimetres; geometry exported from
// Chinese web maps (AMap, Tencent) is GCJ-02, an obfuscated datum offset by a few hundred metres. The page
// converts a GCJ-02 GeoJSON to WGS-84 once, when it loads, so markers and the district line up.
// The formulas are the widely used public ones (googollee/eviltransform, MIT); gcj02ToWgs84 inverts by
// iteration to better than a millimetre instead of the usual one-step approximation (~1-2 m off).
const A = 6378245.0
const EE = 0.006693421622965943

/** Outside mainland China GCJ-02 equals WGS-84 (the same bounding box eviltransform uses). */
export function outOfChina(lat, lon) {
  return !(lon > 72.004 && lon < 137.8347 && lat > 0.8293 && lat < 55.8271)
}

function transform(x, y) {
  const xy = x * y
  const absX = Math.sqrt(Math.abs(x))
  const xPi = x * Math.PI
  const yPi = y * Math.PI
  const d = 20 * Math.sin(6 * xPi) + 20 * Math.sin(2 * xPi)
  let lat = d + 20 * Math.sin(yPi) + 40 * Math.sin(yPi / 3) + 160 * Math.sin(yPi / 12) + 320 * Math.sin(yPi / 30)
  let lon = d + 20 * Math.sin(xPi) + 40 * Math.sin(xPi / 3) + 150 * Math.sin(xPi / 12) + 300 * Math.sin(xPi / 30)
  lat *= 2 / 3
  lon *= 2 / 3
  lat += -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * xy + 0.2 * absX
  lon += 300 + x + 2 * y + 0.1 * x * x + 0.1 * xy + 0.1 * absX
  return [lat, lon]
}

function delta(lat, lon) {
  const [dLat0, dLon0] = transform(lon - 105, lat - 35)
  const radLat = (lat / 180) * Math.PI
  let magic = Math.sin(radLat)
  magic = 1 - EE * magic * magic
  const sqrtMagic = Math.sqrt(magic)
  const dLat = (dLat0 * 180) / (((A * (1 - EE)) / (magic * sqrtMagic)) * Math.PI)
  const dLon = (dLon0 * 180) / ((A / sqrtMagic) * Math.cos(radLat) * Math.PI)
  return [dLat, dLon]
}

/** WGS-84 → GCJ-02, [lat, lon] in decimal degrees. */
export function wgs84ToGcj02(lat, lon) {
  if (outOfChina(lat, lon)) return [lat, lon]
  const [dLat, dLon] = delta(lat, lon)
  return [lat + dLat, lon + dLon]
}

/** GCJ-02 → WGS-84 by fixed-point iteration (at most 30 steps; converges in 3-5 to 1e-10 degrees). */
export function gcj02ToWgs84(lat, lon) {
  if (outOfChina(lat, lon)) return [lat, lon]
  let wLat = lat
  let wLon = lon
  for (let i = 0; i < 30; i++) {
    const [gLat, gLon] = wgs84ToGcj02(wLat, wLon)
    const eLat = gLat - lat
    const eLon = gLon - lon
    wLat -= eLat
    wLon -= eLon
    if (Math.abs(eLat) < 1e-10 && Math.abs(eLon) < 1e-10) break
  }
  return [wLat, wLon]
}

/** A copy of a GeoJSON object with every position ([lon, lat, ...]) converted from `datum` to WGS-84. */
export function geojsonToWgs84(geojson, datum) {
  if (datum !== 'gcj02') return geojson
  const conv = (c) => {
    if (typeof c[0] === 'number') {
      const [lat, lon] = gcj02ToWgs84(c[1], c[0])
      return [lon, lat, ...c.slice(2)]
    }
    return c.map(conv)
  }
  const geom = (g) => (g === null ? g : g.type === 'GeometryCollection' ? { ...g, geometries: g.geometries.map(geom) } : { ...g, coordinates: conv(g.coordinates) })
  if (geojson.type === 'FeatureCollection') return { ...geojson, features: geojson.features.map((f) => ({ ...f, geometry: geom(f.geometry) })) }
  if (geojson.type === 'Feature') return { ...geojson, geometry: geom(geojson.geometry) }
  return geom(geojson)
}
