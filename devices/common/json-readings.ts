/**
 * A JSON payload (JSON over MQTT, docs/data-model.md "MQTT message format") -> the readings it carries:
 * one object is one reading, an array is one reading per item, each judged on its own (a bad item is
 * refused alone; the others are kept). Bounded, so no payload can make the gateway throw or spin: an array
 * over `maxItems` is `too_many_items`, JSON nested deeper than `maxDepth` is `json_too_deep` (checked on
 * the text before parsing), and the text kept for a refused item is bounded and never throws (`itemRaw`).
 */
import type { Reason } from './reasons.ts'

export const JSON_LIMITS = {
  /** Items in one array payload. A 64 KiB payload (the MQTT source's default cap) holds a few thousand. */
  maxItems: 10_000,
  /** Nesting of arrays and objects; a reading is flat (2 levels in an array payload). */
  maxDepth: 32,
  /** Characters kept of a refused item's JSON text in the dead-letter log. */
  maxRawChars: 65_536,
} as const

export type JsonLimits = { maxItems: number; maxDepth: number; maxRawChars: number }

export type JsonItems = { ok: true; items: unknown[]; array: boolean } | { ok: false; reason: Reason; detail: string }

/** How deeply `text` nests arrays and objects (outside strings), stopping once past `limit`. */
export function jsonDepth(text: string, limit: number): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        max = depth
        if (max > limit) return max
      }
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return max
}

/** The readings of a JSON payload, or why there are none. Never throws. */
export function jsonItems(text: string, limits: JsonLimits = JSON_LIMITS): JsonItems {
  const depth = jsonDepth(text, limits.maxDepth)
  if (depth > limits.maxDepth) return { ok: false, reason: 'json_too_deep', detail: `JSON nested deeper than ${limits.maxDepth} levels` }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    return { ok: false, reason: 'malformed_json', detail: (err as Error).message }
  }
  if (!Array.isArray(json)) return { ok: true, items: [json], array: false }
  if (json.length === 0) return { ok: false, reason: 'empty_reading', detail: 'empty array' }
  if (json.length > limits.maxItems) return { ok: false, reason: 'too_many_items', detail: `${json.length} items > ${limits.maxItems}` }
  return { ok: true, items: json, array: true }
}

/** The text of a refused item for the dead-letter log: its JSON, at most `maxChars`, never throwing. */
export function itemRaw(item: unknown, maxChars: number = JSON_LIMITS.maxRawChars): string {
  let s: string | undefined
  try {
    s = JSON.stringify(item)
  } catch (err) {
    // A cycle, a BigInt or a structure too deep to stringify (values that did not come from JSON text).
    return `(unserializable ${Array.isArray(item) ? 'array' : typeof item}: ${(err as Error).message})`.slice(0, maxChars)
  }
  if (s === undefined) return String(item).slice(0, maxChars)
  return s.length > maxChars ? `${s.slice(0, maxChars)}...` : s
}
