/**
 * Profiles for the gateway: a built-in one by name, or a user's YAML/JSON file. A wrong file stops start-up
 * with an error that names the file and the key path of every problem.
 */
import { readFile } from 'node:fs/promises'
import { type ModbusProfile, parseProfileText } from '../../../devices/common/modbus/profile.ts'
import { builtinProfile } from '../../../devices/modbus-profiles.ts'
import { GatewayError } from '../../core/errors.ts'


export async function loadProfile(ref: string): Promise<ModbusProfile> {
  const builtin = builtinProfile(ref)
  if (builtin) return builtin
  if (!/\.(ya?ml|json)$/i.test(ref)) throw new GatewayError('unknown_profile', `profile ${ref}: neither a built-in profile nor a .yaml/.yml/.json file`)
  let text: string
  try {
    text = await readFile(ref, 'utf8')
  } catch (err) {
    throw new GatewayError('profile_unreadable', `profile ${ref}: ${(err as Error).message}`, { cause: err })
  }
  const r = parseProfileText(text)
  if (!r.ok) throw new GatewayError('bad_profile', `profile ${ref}:\n  ${r.problems.join('\n  ')}`)
  return r.profile
}

/**
 * Every profile problem of a configuration's Modbus sources, with its key path (`sources[1].devices[0].profile:
 * ...`), for `smartcity check-config`; the sources refuse the same problems at start-up.
 */
export async function checkModbusProfiles(sources: readonly { type: string; devices?: readonly { profile?: string }[] }[]): Promise<string[]> {
  const problems: string[] = []
  for (const [i, s] of sources.entries()) {
    if (!s.type.startsWith('modbus')) continue
    for (const [j, d] of (s.devices ?? []).entries()) {
      if (d.profile === undefined) continue
      try {
        await loadProfile(d.profile)
      } catch (err) {
        problems.push(`sources[${i}].devices[${j}].profile: ${(err as Error).message}`)
      }
    }
  }
  return problems
}
