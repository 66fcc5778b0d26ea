/** The parts of the demo district, in start order. */
import type { DemoPart } from './types.ts'
import { waterMqttPart } from './water-mqtt.ts'

export const demoParts: readonly DemoPart[] = [waterMqttPart]
