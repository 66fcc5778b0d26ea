/**
 * The two layouts field RSUs speak, as profiles (data, see `layout.ts`):
 *
 * - `classic`: the public "高速公路ETC系统DSRC设备串行口通讯协议" (protocols.md section 5), trimmed to what the
 *   lane needs.
 * - `2019`: the layout of RSU firmware since the 2019 nationwide ETC upgrade (provincial toll stations
 *   removed, CPU cards, EF04 file in the OBU). Source: the public STM32 RSU firmware `leizi163163/test`,
 *   `USER/CommandProcess.h` (structs `RSU_StatusDef`, `RSU_ObuInfoDef`, `RSU_IccInfoDef`,
 *   `RSU_TransInfoDef`, `PC_InitDef`, `PC_PurchaseDef`; its `RSU_OBU_INFO_LEN = 35` and
 *   `RSU_TRANS_INFO_LEN = 34` are the classic B2 and the 2019 B5). Fields that both layouts have keep the
 *   classic names, so a frame that reads the same in both gives the same fields.
 */
import { field as f, type RsuProfile } from './layout.ts'

export const CLASSIC_PROFILE: RsuProfile = {
  name: 'classic',
  frames: {
    B0: {
      from: 'rsu',
      description: 'RSU status',
      fields: [
        f('rsuStatus', 'u8'),
        f('psamTerminalId', 'hex', 6),
        f('rsuAlgId', 'u8'),
        f('rsuManuId', 'u8'),
        f('rsuId', 'hex', 3),
        f('rsuVersion', 'hex', 2),
        f('reserved', 'rest'),
      ],
    },
    B2: {
      from: 'rsu',
      description: 'OBU information (heartbeat: errorCode 80, obuId 00000000, nothing after)',
      fields: [
        f('obuId', 'hex', 4),
        f('errorCode', 'u8'),
        f('contractProvider', 'hex', 8, true),
        f('contractType', 'u8', undefined, true),
        f('contractVersion', 'u8', undefined, true),
        f('applicationSerial', 'hex', 8, true),
        f('signedDate', 'bcd', 4, true),
        f('expiredDate', 'bcd', 4, true),
        f('equipmentStatus', 'u8', undefined, true),
        f('obuStatus', 'u16', undefined, true),
      ],
    },
    B3: {
      from: 'rsu',
      description: 'vehicle information',
      fields: [
        f('obuId', 'hex', 4),
        f('errorCode', 'u8'),
        f('plate', 'gbk', 12, true),
        f('plateColor', 'u16', undefined, true),
        f('vehicleClass', 'u8', undefined, true),
        f('userType', 'u8', undefined, true),
      ],
    },
    B4: {
      from: 'rsu',
      description: 'IC card information',
      fields: [
        f('obuId', 'hex', 4),
        f('errorCode', 'u8'),
        f('cardType', 'u8', undefined, true),
        f('balanceFen', 'u32', undefined, true),
        f('issuerFile', 'hex', 43, true),
        f('lastStationFile', 'hex', 43, true),
      ],
    },
    B5: {
      from: 'rsu',
      description: 'transaction result',
      fields: [
        f('obuId', 'hex', 4),
        f('errorCode', 'u8'),
        f('transTime', 'bcd', 7, true),
        f('psamSerial', 'u32', undefined, true),
        f('cardSerial', 'u16', undefined, true),
        f('transType', 'u8', undefined, true),
        f('balanceFen', 'u32', undefined, true),
        f('tac', 'hex', 4, true),
        f('keyType', 'u8', undefined, true),
      ],
    },
    C0: {
      from: 'pc',
      description: 'initialise the RSU',
      fields: [
        f('unixTime', 'u32'),
        f('dateTime', 'bcd', 7),
        f('laneMode', 'u8'),
        f('bstInterval', 'u8'),
        f('txPower', 'u8'),
        f('pllChannel', 'u8'),
        f('extra', 'rest'),
      ],
    },
    C1: {
      from: 'pc',
      description: 'continue the transaction',
      fields: [f('obuId', 'hex', 4), f('divFactor', 'hex', 8, true)],
    },
    C2: {
      from: 'pc',
      description: 'stop the transaction (stopType 1: re-search the OBU, 2: release)',
      fields: [f('obuId', 'hex', 4), f('stopType', 'u8')],
    },
    C6: {
      from: 'pc',
      description: 'deduct (consume)',
      fields: [
        f('obuId', 'hex', 4),
        f('tradeMode', 'u8'),
        f('feeFen', 'u32'),
        f('stationFile', 'hex', 43),
        f('transTime', 'bcd', 7),
        f('extra', 'rest'),
      ],
    },
  },
}

const classic = CLASSIC_PROFILE.frames

export const PROFILE_2019: RsuProfile = {
  name: '2019',
  frames: {
    B0: {
      from: 'rsu',
      description: 'RSU status, with the PSAM channel, version and authorisation before the terminal id',
      fields: [
        f('rsuStatus', 'u8'),
        f('psamChannel', 'u8'),
        f('psamVersion', 'u8'),
        f('psamAuth', 'u8'),
        f('psamTerminalId', 'hex', 6),
        f('rsuAlgId', 'u8'),
        f('rsuManuId', 'u8'),
        f('rsuId', 'hex', 3),
        f('rsuVersion', 'hex', 2),
        f('reserved', 'hex', 5, true),
      ],
    },
    B2: {
      from: 'rsu',
      description: 'OBU information with the 10-byte CPU card id (heartbeat: errorCode 80, obuId 00000000)',
      fields: [
        f('obuId', 'hex', 4),
        f('errorCode', 'u8'),
        f('contractProvider', 'hex', 8, true),
        f('contractType', 'u8', undefined, true),
        f('contractVersion', 'u8', undefined, true),
        f('applicationSerial', 'hex', 8, true),
        f('signedDate', 'bcd', 4, true),
        f('expiredDate', 'bcd', 4, true),
        f('cpuCardId', 'hex', 10, true),
        f('equipmentStatus', 'u8', undefined, true),
        f('obuStatus', 'u16', undefined, true),
      ],
    },
    B3: classic['B3']!,
    B4: {
      from: 'rsu',
      description: 'IC card information, the EF04 read status, and the EF04 range the C0 asked for',
      fields: [
        f('obuId', 'hex', 4),
        f('errorCode', 'u8'),
        f('cardType', 'u8', undefined, true),
        f('balanceFen', 'u32', undefined, true),
        f('issuerFile', 'hex', 43, true),
        f('lastStationFile', 'hex', 43, true),
        f('ef04ReadStatus', 'u8', undefined, true),
        f('ef04Offset', 'u16', undefined, true),
        f('ef04Length', 'u16', undefined, true),
        f('ef04Data', 'rest'),
      ],
    },
    B5: {
      from: 'rsu',
      description: 'transaction result, with the write time (UNIX seconds) and the EF04 write status',
      fields: [
        f('obuId', 'hex', 4),
        f('errorCode', 'u8'),
        f('transTime', 'bcd', 7, true),
        f('psamSerial', 'u32', undefined, true),
        f('cardSerial', 'u16', undefined, true),
        f('transType', 'u8', undefined, true),
        f('balanceFen', 'u32', undefined, true),
        f('tac', 'hex', 4, true),
        f('writeTime', 'u32', undefined, true),
        f('keyType', 'u8', undefined, true),
        f('ef04WriteStatus', 'u8', undefined, true),
      ],
    },
    C0: {
      from: 'pc',
      description: 'initialise the RSU; ef04Option 1 asks for ef04Length bytes of EF04 from ef04Offset in every B4',
      fields: [
        f('unixTime', 'u32'),
        f('dateTime', 'bcd', 7),
        f('laneMode', 'u8'),
        f('bstInterval', 'u8'),
        f('txPower', 'u8'),
        f('pllChannel', 'u8'),
        f('ef04Option', 'u8', undefined, true),
        f('ef04Offset', 'u16', undefined, true),
        f('ef04Length', 'u16', undefined, true),
      ],
    },
    C1: classic['C1']!,
    C2: classic['C2']!,
    C6: {
      from: 'pc',
      description: 'deduct (consume), with a 40-byte station field and optionally EF04 data to write',
      fields: [
        f('obuId', 'hex', 4),
        f('tradeMode', 'u8'),
        f('feeFen', 'u32'),
        f('stationFile', 'hex', 40),
        f('transTime', 'bcd', 7),
        f('ef04Offset', 'u16', undefined, true),
        f('ef04Length', 'u16', undefined, true),
        f('ef04Data', 'rest'),
      ],
    },
  },
}

/** The built-in profiles by the name the configuration and `smartcity decode --profile` use. */
export const RSU_PROFILES = { classic: CLASSIC_PROFILE, '2019': PROFILE_2019 } as const satisfies Record<string, RsuProfile>
export type RsuProfileName = keyof typeof RSU_PROFILES
export const RSU_PROFILE_NAMES = Object.keys(RSU_PROFILES) as RsuProfileName[]
/** A profile name, `auto` (tell the layout from each frame), or a vendor's own profile as data. */
export type RsuProfileChoice = RsuProfileName | 'auto' | RsuProfile
export const RSU_PROFILE_CHOICES = ['classic', '2019', 'auto'] as const satisfies readonly (RsuProfileName | 'auto')[]

export function isRsuProfileChoice(s: string): s is RsuProfileName | 'auto' {
  return (RSU_PROFILE_CHOICES as readonly string[]).includes(s)
}
