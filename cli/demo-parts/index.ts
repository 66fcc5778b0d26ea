/** The parts of the demo district, in start order. */
import { cityServicesPart } from './city-services.ts'
import { modbusPart } from './modbus.ts'
import { serialPart } from './serial.ts'
import { tcpPlatformsPart } from './tcp-platforms.ts'
import type { DemoPart } from './types.ts'
import { waterMqttPart } from './water-mqtt.ts'

export const demoParts: readonly DemoPart[] = [waterMqttPart, modbusPart, serialPart, cityServicesPart, tcpPlatformsPart]
