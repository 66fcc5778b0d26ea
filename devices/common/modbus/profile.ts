/**
 * Device profiles as data (EdgeX device profiles): which registers a device has, how each is encoded and which
 * canonical field it feeds. Built-in profiles live with their kind (devices/energy-meter/profiles, ...); users
 * add YAML or JSON files of the same shape. A wrong profile is refused with the key path of every problem.
 */
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { MEASUREMENTS } from '../measurements.ts'
import { DATA_TYPES, ORDERS, registerCount } from './registers.ts'

export const TABLES = ['coil', 'discrete_input', 'holding', 'input'] as const
export type Table = (typeof TABLES)[number]

/** The read function code of each table. */
export const READ_FC = { coil: 1, discrete_input: 2, holding: 3, input: 4 } as const satisfies Record<Table, number>

export const PROFILE_KINDS = ['energy_meter', 'water_quality'] as const

export const ProfilePoint = z.strictObject({
  /** Unique within the profile; what `decode` and the write API show. */
  name: z.string().regex(/^[a-z][a-z0-9_]*$/, 'lower-case letters, digits and _'),
  /** The canonical field of the kind's measurement this point feeds (docs/data-model.md); none: read but not stored. */
  field: z.string().min(1).optional(),
  function: z.enum(TABLES),
  /** Zero-based protocol address (30001 in a manual is input register 0). */
  address: z.number().int().min(0).max(0xffff),
  type: z.enum(DATA_TYPES),
  /** Byte/word order; defaults to the profile's `order`. */
  order: z.enum(ORDERS).optional(),
  /** Bit 0..15 of a `bit` point (0 = least significant). */
  bit: z.number().int().min(0).max(15).optional(),
  /** Bytes of a `string` point. */
  length: z.number().int().min(1).max(246).optional(),
  /** value = raw x scale + offset. */
  scale: z.number().refine((n) => n !== 0 && Number.isFinite(n), 'a finite number other than 0').default(1),
  offset: z.number().default(0),
  unit: z.string().optional(),
  writable: z.boolean().default(false),
  /** Accepted range of a write, in engineering units. */
  min: z.number().optional(),
  max: z.number().optional(),
  /** Write with FC 5/6 (`single`, default for one coil or register) or FC 15/16 (`multiple`). */
  writeFunction: z.enum(['single', 'multiple']).optional(),
  description: z.string().optional(),
})
export type ProfilePoint = z.infer<typeof ProfilePoint>

export const ModbusProfile = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lower-case letters, digits, . _ -'),
    kind: z.enum(PROFILE_KINDS),
    manufacturer: z.string().optional(),
    model: z.string().optional(),
    description: z.string().optional(),
    /** Where the register map comes from (manual, driver source). */
    source: z.string().optional(),
    /** Default byte/word order of multi-register points. */
    order: z.enum(ORDERS).default('ABCD'),
    /** Largest hole (registers or bits) a merged read may span; reading a hole costs bytes, not a round trip. */
    maxGap: z.number().int().min(0).max(124).default(16),
    /** Most registers the device answers in one read (the spec allows 125; some meters fewer). */
    maxRegisters: z.number().int().min(1).max(125).default(125),
    points: z.array(ProfilePoint).min(1),
  })
  .superRefine((p, ctx) => {
    const fields = MEASUREMENTS[p.kind].fields as Record<string, string>
    const names = new Set<string>()
    const fed = new Map<string, number>()
    p.points.forEach((pt, i) => {
      const at = (key: string) => ['points', i, key]
      const issue = (key: string, message: string) => ctx.addIssue({ code: 'custom', path: at(key), message })
      if (names.has(pt.name)) issue('name', `duplicate point name ${pt.name}`)
      names.add(pt.name)
      const bitTable = pt.function === 'coil' || pt.function === 'discrete_input'
      if (bitTable && pt.type !== 'bool') issue('type', `${pt.function} points are bool, not ${pt.type}`)
      if (!bitTable && pt.type === 'bool') issue('type', `bool needs a coil or discrete_input; use bit for a bit of a register`)
      if (pt.type === 'bit' && pt.bit === undefined) issue('bit', 'a bit point needs bit: 0..15')
      if (pt.type !== 'bit' && pt.bit !== undefined) issue('bit', `bit applies to type bit only, not ${pt.type}`)
      if (pt.type === 'string' && pt.length === undefined) issue('length', 'a string point needs length (bytes)')
      if (pt.type !== 'string' && pt.length !== undefined) issue('length', 'length applies to type string only')
      if (pt.address + registerCount(pt.type, pt.length) > 0x10000) issue('address', 'point runs past register 65535')
      if (registerCount(pt.type, pt.length) > p.maxRegisters) issue('length', `longer than maxRegisters ${p.maxRegisters}`)
      if (pt.field !== undefined) {
        if (pt.field === 'gb3838_class' || pt.field === 'gb3838_factor' || !(pt.field in fields)) issue('field', `${pt.field} is not a field of ${p.kind} (docs/data-model.md)`)
        else if (pt.type === 'string' || pt.type === 'bool' || pt.type === 'bit') issue('field', `${pt.field} is numeric; a ${pt.type} point cannot feed it`)
        if (fed.has(pt.field)) issue('field', `${pt.field} is already fed by points[${fed.get(pt.field)}]`)
        fed.set(pt.field, i)
      }
      if (pt.writable) {
        if (pt.function === 'input' || pt.function === 'discrete_input') issue('writable', `${pt.function} points are read-only by protocol`)
        if (pt.type === 'bit') issue('writable', 'writing one bit of a register is not supported (it would race other writers)')
        if (pt.type === 'string') issue('writable', 'string points are not writable')
      }
      if (pt.min !== undefined && pt.max !== undefined && pt.min > pt.max) issue('min', `min ${pt.min} > max ${pt.max}`)
      if (pt.writeFunction === 'single' && registerCount(pt.type, pt.length) > 1) issue('writeFunction', 'FC 6 writes one register only')
    })
  })
export type ModbusProfile = z.infer<typeof ModbusProfile>
export type ModbusProfileInput = z.input<typeof ModbusProfile>

export type ProfileResult = { ok: true; profile: ModbusProfile } | { ok: false; problems: string[] }

function keyPath(path: readonly PropertyKey[]): string {
  let s = ''
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p)
  return s || '(root)'
}

/** Validate profile data; every problem names its key path (`points[3].type: ...`). */
export function parseProfile(data: unknown): ProfileResult {
  const r = ModbusProfile.safeParse(data)
  if (r.success) return { ok: true, profile: r.data }
  return { ok: false, problems: r.error.issues.map((i) => `${keyPath(i.path)}: ${i.message}`) }
}

/** Parse the text of a profile file (YAML, which includes JSON). */
export function parseProfileText(text: string): ProfileResult {
  let data: unknown
  try {
    data = parseYaml(text)
  } catch (err) {
    return { ok: false, problems: [`(file): ${(err as Error).message}`] }
  }
  return parseProfile(data)
}
