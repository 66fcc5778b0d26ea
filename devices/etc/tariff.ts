/**
 * Vehicle classes of JT/T 489-2019 (收费公路车辆通行费车型分类) as the B3 frame carries them, and an example
 * tariff per passage in fen (1 yuan = 100 fen). The lane's real tariff is configuration; this is the default
 * that the gateway's ETC source and the simulator share.
 *   1..4  passenger cars (1: <= 9 seats, 2: 10-19, 3: 20-39, 4: >= 40)
 *   11..16 trucks by axles (11: 2 axles light ... 16: 6 axles and more)
 *   21..26 special-purpose vehicles
 */
export const DEFAULT_TARIFF_FEN: Readonly<Record<string, number>> = {
  '1': 500,
  '2': 1000,
  '3': 1500,
  '4': 2000,
  '11': 1000,
  '12': 1500,
  '13': 2500,
  '14': 3500,
  '15': 4500,
  '16': 5500,
}
