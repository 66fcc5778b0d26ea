/**
 * ETC roadside unit (RSU) <-> lane controller serial protocol (GB/T 20851 DSRC lanes; docs/protocols.md
 * section 5). Pure codec, one file per concern:
 *   framing.ts   byte stuffing, BCC, the stream framer, RSCTL rules
 *   layout.ts    frame layouts as data (`RsuProfile`, zod)
 *   profiles.ts  the built-in layouts: `classic` and `2019`
 *   decode.ts    DATA -> fields, and `auto` (which layout a frame is in)
 *   encode.ts    fields -> DATA, the exact inverse
 *   meaning.ts   heartbeats, status bits, card ids, BCD times
 *   codec.ts     the ProtocolCodec: what the gateway's lane controller and `smartcity decode` use
 */
export * from './codec.ts'
export * from './decode.ts'
export * from './encode.ts'
export * from './framing.ts'
export * from './layout.ts'
export * from './meaning.ts'
export * from './profiles.ts'
