/** DL/T 645 encoder: a message -> its frame and wire bytes (the master's requests, the simulators' replies). */
import { byteToBcd } from '../../common/bcd.ts'
import { addressToBytes, type Dlt645Frame, encodeFrame } from './frame.ts'
import { type Dlt645Message, diBytes, writeDi } from './messages.ts'

/** A message -> its frame (the inverse of `interpretFrame`). */
export function messageToFrame(m: Dlt645Message): Dlt645Frame {
  switch (m.kind) {
    case 'read_request':
      return { address: m.address, control: m.version === '2007' ? 0x11 : 0x01, data: writeDi(m.di, diBytes(m.version)) }
    case 'read_reply':
      return {
        address: m.address,
        control: (m.version === '2007' ? 0x91 : 0x81) | (m.more ? 0x20 : 0),
        data: Buffer.concat([writeDi(m.di, diBytes(m.version)), m.data]),
      }
    case 'error_reply':
      return { address: m.address, control: m.version === '2007' ? 0xd1 : 0xc1, data: Buffer.from([m.errorWord]) }
    case 'read_address_request':
      return { address: m.address, control: 0x13, data: Buffer.alloc(0) }
    case 'read_address_reply':
      return { address: m.address, control: 0x93, data: addressToBytes(m.address)! }
    case 'broadcast_time': {
      const t = m.time
      return {
        address: m.address,
        control: 0x08,
        data: Buffer.from([t.second, t.minute, t.hour, t.day, t.month, t.year % 100].map(byteToBcd)),
      }
    }
    case 'other':
      return { address: m.address, control: m.control, data: m.data }
  }
}

/** Message -> wire bytes with the usual 4-byte FE wake-up preamble (configurable). */
export function encodeMessage(m: Dlt645Message, preamble = 4): Buffer {
  return encodeFrame(messageToFrame(m), preamble)
}

