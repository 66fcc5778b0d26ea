import { z } from 'zod'
import { Timestamp } from '../common/time.ts'

/** One ETC passage in canonical field names (docs/data-model.md `etc_transaction`). */
export const EtcTransactionReading = z.strictObject({
  ts: Timestamp.optional(),
  lane: z.string().min(1).max(64),
  result: z.string().regex(/^[a-z0-9_]+$/).max(64),
  obu_id: z.string().regex(/^[0-9A-Fa-f]{1,16}$/).optional(),
  plate: z.string().max(16).optional(),
  plate_color: z.number().int().min(0).max(255).optional(),
  vehicle_class: z.number().int().min(0).max(255).optional(),
  fee_fen: z.number().int().min(0).optional(),
  balance_fen: z.number().int().optional(),
  card_id: z.string().max(32).optional(),
  transaction_ms: z.number().int().min(0).optional(),
})
export type EtcTransactionReading = z.infer<typeof EtcTransactionReading>

/**
 * An RSU's state (B0 status frame, or the link going up or down), as `etc_rsu_status`: `online` always,
 * the fault bits and the raw status byte when a B0 frame gave them (devices/etc/rsu/codec.ts `rsuStatusValue`).
 */
export const RsuStatusReading = z.strictObject({
  ts: Timestamp.optional(),
  online: z.boolean(),
  antenna_ok: z.boolean().optional(),
  psam_ok: z.boolean().optional(),
  rsu_status: z.number().int().min(0).max(0xffffffff).optional(),
})
export type RsuStatusReading = z.infer<typeof RsuStatusReading>
