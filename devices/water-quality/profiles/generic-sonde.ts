import type { ModbusProfileInput } from '../../common/modbus/profile.ts'

/**
 * A generic RS-485 multi-parameter water sonde as the OEM Chinese probes build them (docs/protocols.md
 * section 7, Dragino DR-series: 9600 baud, FC 03 from register 0, values as scaled integers, e.g. DO as
 * uint16 / 100 mg/L). The exact map of a given sonde varies by vendor: copy this profile into a YAML file and
 * adjust it rather than writing code.
 */
export const genericSonde = {
  name: 'generic-sonde',
  kind: 'water_quality',
  manufacturer: 'generic',
  model: 'RS-485 multi-parameter sonde',
  description: 'Scaled-integer holding registers; a wiper coil and writable calibration settings',
  source: 'docs/protocols.md section 7 (Dragino DR-series probe maps), generalised',
  order: 'ABCD',
  maxGap: 16,
  maxRegisters: 125,
  points: [
    { name: 'ph', function: 'holding', address: 0, type: 'uint16', scale: 0.01, field: 'ph', unit: 'pH' },
    { name: 'temperature', function: 'holding', address: 1, type: 'int16', scale: 0.1, field: 'water_temp_c', unit: '°C' },
    { name: 'dissolved_oxygen', function: 'holding', address: 2, type: 'uint16', scale: 0.01, field: 'dissolved_oxygen_mg_l', unit: 'mg/L' },
    { name: 'conductivity', function: 'holding', address: 3, type: 'uint16', field: 'conductivity_us_cm', unit: 'µS/cm' },
    { name: 'turbidity', function: 'holding', address: 4, type: 'uint16', scale: 0.1, field: 'turbidity_ntu', unit: 'NTU' },
    { name: 'orp', function: 'holding', address: 5, type: 'int16', field: 'orp_mv', unit: 'mV' },
    { name: 'ammonia_nitrogen', function: 'holding', address: 6, type: 'uint16', scale: 0.01, field: 'ammonia_nitrogen_mg_l', unit: 'mg/L' },
    { name: 'cod', function: 'holding', address: 7, type: 'uint16', scale: 0.1, field: 'cod_mg_l', unit: 'mg/L' },
    { name: 'wiper_running', function: 'holding', address: 8, type: 'bit', bit: 0 },
    { name: 'sensor_fault', function: 'holding', address: 8, type: 'bit', bit: 1 },
    { name: 'serial_number', function: 'holding', address: 16, type: 'string', length: 8 },
    { name: 'conductivity_k', function: 'holding', address: 32, type: 'uint16', writable: true, min: 1, max: 100, description: 'cell constant K of the EC probe' },
    { name: 'averaging_s', function: 'holding', address: 33, type: 'uint16', writable: true, min: 1, max: 600, unit: 's' },
    { name: 'wipe', function: 'coil', address: 0, type: 'bool', writable: true, description: 'start one wiper cycle' },
  ],
} satisfies ModbusProfileInput
