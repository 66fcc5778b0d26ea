/**
 * The built-in Modbus device profiles, by name. Users add their own YAML/JSON files of the same shape
 * (devices/common/modbus/profile.ts); the gateway loads them at start-up.
 */
import { ModbusProfile } from './common/modbus/profile.ts'
import { chintDtsu666 } from './energy-meter/profiles/chint-dtsu666.ts'
import { eastronSdm630 } from './energy-meter/profiles/eastron-sdm630.ts'
import { genericSonde } from './water-quality/profiles/generic-sonde.ts'

export const BUILTIN_PROFILE_DATA = [eastronSdm630, chintDtsu666, genericSonde] as const

// Parsed once: a broken built-in profile is a programming error caught by the tests.
export const BUILTIN_PROFILES: ReadonlyMap<string, ModbusProfile> = new Map(
  BUILTIN_PROFILE_DATA.map((p) => [p.name, ModbusProfile.parse(p)]),
)

export function builtinProfile(name: string): ModbusProfile | undefined {
  return BUILTIN_PROFILES.get(name)
}
