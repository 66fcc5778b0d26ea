/**
 * modbus-serial (npm, yaacov/node-modbus-serial) as a second independent Modbus peer beside pymodbus, and the
 * byte/word orders written with Node's Buffer methods only: neither side of a test lays out or reads back a value
 * with our codec (devices/common/modbus/registers.ts).
 */
import modbusSerial, { type IServiceVector, ServerTCP } from 'modbus-serial'
import type { NumericType, WireOrder } from './modbus-peers.ts'
import { freePort } from './net.ts'

// modbus-serial is CommonJS; its types declare the client as `export default`, which NodeNext reads as
// `module.exports.default` (the package sets that to the client as well).
const ModbusRTU = modbusSerial.default
type ModbusRTU = InstanceType<typeof ModbusRTU>

export type LaidType = NumericType | 'string'

const BYTES: Readonly<Record<NumericType, number>> = { int16: 2, uint16: 2, int32: 4, uint32: 4, float32: 4, int64: 8, uint64: 8, float64: 8 }

/** Registers a value of `type` takes (a string of `length` bytes: one register per two). */
export function registersOf(type: LaidType, length = 0): number {
  return type === 'string' ? Math.ceil(length / 2) : BYTES[type] / 2
}

// The four orders from Buffer's two endiannesses and swap16 (the two bytes of every register swapped):
// ABCD is big-endian, DCBA little-endian, BADC big-endian then swap16, CDAB little-endian then swap16 (which puts
// the low register first, each register big-endian). 0x11223344 travels as 11 22 33 44, 44 33 22 11, 22 11 44 33
// and 33 44 11 22.
const littleEndian = (o: WireOrder) => o === 'DCBA' || o === 'CDAB'
const swapped = (o: WireOrder) => o === 'BADC' || o === 'CDAB'

/**
 * The bytes of a value as they travel in `order`. A string keeps its characters in order, NUL-padded to whole
 * registers; BADC and DCBA swap the two characters of each register.
 */
export function layOut(type: LaidType, order: WireOrder, value: number | string, length = 0): Buffer {
  if (type === 'string') {
    const b = Buffer.alloc(registersOf(type, length) * 2)
    b.write(String(value), 'latin1')
    return order === 'BADC' || order === 'DCBA' ? b.swap16() : b
  }
  const b = Buffer.alloc(BYTES[type])
  const n = Number(value)
  const le = littleEndian(order)
  switch (type) {
    case 'int16':
      le ? b.writeInt16LE(n) : b.writeInt16BE(n)
      break
    case 'uint16':
      le ? b.writeUInt16LE(n) : b.writeUInt16BE(n)
      break
    case 'int32':
      le ? b.writeInt32LE(n) : b.writeInt32BE(n)
      break
    case 'uint32':
      le ? b.writeUInt32LE(n) : b.writeUInt32BE(n)
      break
    case 'float32':
      le ? b.writeFloatLE(n) : b.writeFloatBE(n)
      break
    case 'int64':
      le ? b.writeBigInt64LE(BigInt(n)) : b.writeBigInt64BE(BigInt(n))
      break
    case 'uint64':
      le ? b.writeBigUInt64LE(BigInt(n)) : b.writeBigUInt64BE(BigInt(n))
      break
    case 'float64':
      le ? b.writeDoubleLE(n) : b.writeDoubleBE(n)
      break
  }
  return swapped(order) ? b.swap16() : b
}

/**
 * The value in the bytes of a register read, the inverse of `layOut`: 64-bit integers as bigint (exact), strings
 * without trailing NULs and spaces.
 */
export function readBack(type: LaidType, order: WireOrder, bytes: Buffer, length = 0): number | bigint | string {
  const b = Buffer.from(bytes.subarray(0, registersOf(type, length) * 2))
  if (type === 'string') {
    const chars = order === 'BADC' || order === 'DCBA' ? b.swap16() : b
    return chars.subarray(0, length).toString('latin1').replace(/[\0 ]+$/, '')
  }
  if (swapped(order)) b.swap16()
  const le = littleEndian(order)
  switch (type) {
    case 'int16':
      return le ? b.readInt16LE() : b.readInt16BE()
    case 'uint16':
      return le ? b.readUInt16LE() : b.readUInt16BE()
    case 'int32':
      return le ? b.readInt32LE() : b.readInt32BE()
    case 'uint32':
      return le ? b.readUInt32LE() : b.readUInt32BE()
    case 'float32':
      return le ? b.readFloatLE() : b.readFloatBE()
    case 'int64':
      return le ? b.readBigInt64LE() : b.readBigInt64BE()
    case 'uint64':
      return le ? b.readBigUInt64LE() : b.readBigUInt64BE()
    case 'float64':
      return le ? b.readDoubleLE() : b.readDoubleBE()
  }
}

/** The 16-bit registers of travelling bytes (high byte of each register first, as Modbus sends them). */
export function registersIn(bytes: Buffer): number[] {
  return Array.from({ length: bytes.length >> 1 }, (_, i) => bytes.readUInt16BE(2 * i))
}

export interface ModbusSerialServer {
  port: number
  close(): Promise<void>
}

/** modbus-serial's ServerTCP on a free loopback port, answering every unit id from `vector`. */
export async function startModbusSerialServer(vector: IServiceVector): Promise<ModbusSerialServer> {
  const port = await freePort()
  const server = new ServerTCP(vector, { host: '127.0.0.1', port })
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`modbus-serial ServerTCP did not listen on ${port}`)), 10_000)
    server.on('initialized', () => {
      clearTimeout(t)
      resolve()
    })
    server.on('serverError', (err) => {
      clearTimeout(t)
      reject(err)
    })
  })
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

export type ClientLink =
  | { via: 'tcp'; port: number }
  | { via: 'tcp-rtu-buffered'; port: number }
  | { via: 'telnet'; port: number }
  | { via: 'rtu-buffered'; path: string }

/**
 * A modbus-serial client: `connectTCP` and `connectTcpRTUBuffered` speak Modbus TCP (MBAP: despite its name the
 * latter frames with MBAP and only buffers partial answers), `connectTelnet` sends RTU frames with their CRC over
 * TCP (a transparent serial server), `connectRTUBuffered` opens a serial device with serialport.
 */
export async function modbusSerialClient(link: ClientLink, timeoutMs = 2000): Promise<ModbusRTU & { end(): Promise<void> }> {
  const c = new ModbusRTU()
  switch (link.via) {
    case 'tcp':
      await c.connectTCP('127.0.0.1', { port: link.port })
      break
    case 'tcp-rtu-buffered':
      await c.connectTcpRTUBuffered('127.0.0.1', { port: link.port })
      break
    case 'telnet':
      await c.connectTelnet('127.0.0.1', { port: link.port })
      break
    case 'rtu-buffered':
      await c.connectRTUBuffered(link.path, { baudRate: 9600 })
      break
  }
  c.setTimeout(timeoutMs)
  return Object.assign(c, { end: () => new Promise<void>((resolve) => c.close(() => resolve())) })
}
