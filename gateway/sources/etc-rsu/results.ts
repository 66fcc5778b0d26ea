/**
 * The `result` tag values the lane controller writes on `etc_transaction` (devices/etc/README.md): how a
 * passage ended. `ok` is a completed deduction; the others say why the lane stopped (C2) or gave up.
 */
export const ETC_RESULTS = [
  'ok',
  'no_card',
  'card_error',
  'obu_invalid',
  'obu_expired',
  'obu_error',
  'vehicle_info_error',
  'unknown_class',
  'blacklist',
  'insufficient_balance',
  'deduct_failed',
  'timeout',
] as const
export type EtcResult = (typeof ETC_RESULTS)[number]
