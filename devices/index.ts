/**
 * The explicit list of device kinds (no registration by import side effect). A meta-test checks that every
 * folder under devices/ except common/ is listed here and has a README, a schema and tests.
 */
import type { DeviceKind, LineDecoder } from './common/kind.ts'
import type { KindName } from './common/point.ts'
import { elevator } from './elevator/index.ts'
import { energyMeter } from './energy-meter/index.ts'
import { etc } from './etc/index.ts'
import { position } from './position/index.ts'
import { waterQuality } from './water-quality/index.ts'

export const deviceKinds: readonly DeviceKind[] = [waterQuality, energyMeter, etc, elevator, position]

const byKind = new Map<string, DeviceKind>(deviceKinds.map((k) => [k.kind, k]))

export function deviceKind(kind: string): DeviceKind | undefined {
  return byKind.get(kind)
}

export function isKindName(kind: string): kind is KindName {
  return byKind.has(kind)
}

/** Every `smartcity decode <format>` decoder, across kinds. */
export function lineDecoders(): LineDecoder[] {
  return deviceKinds.flatMap((k) => k.decoders)
}
