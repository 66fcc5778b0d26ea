#!/usr/bin/python3
"""Read points from a Modbus TCP server with Debian's pymodbus client and its own payload decoder.

Usage: /usr/bin/python3 pymodbus_read.py HOST PORT < SPEC.json      (Modbus TCP)
       /usr/bin/python3 pymodbus_read.py --rtu SERIAL_PATH < SPEC.json  (Modbus RTU, 9600 8N1)
SPEC: [{"unit": 1, "table": "hr"|"ir"|"co"|"di", "address": 0, "type": "float32", "order": "ABCD",
"length": 8}, ...]. Prints one JSON list: the raw value of each point, or {"error": "..."}.
"""
import json
import logging
import sys

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus_orders import ORDERS
from pymodbus.payload import BinaryPayloadDecoder

logging.basicConfig(level=logging.CRITICAL)

COUNT = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "int64": 4, "uint64": 4, "float64": 4}


def read(client, p):
    unit, table, address = p["unit"], p["table"], p["address"]
    if table in ("co", "di"):
        fn = client.read_coils if table == "co" else client.read_discrete_inputs
        r = fn(address, 1, slave=unit)
        return {"error": str(r)} if r.isError() else bool(r.bits[0])
    t = p["type"]
    count = (p["length"] + 1) // 2 if t == "string" else 1 if t == "bit" else COUNT[t]
    fn = client.read_holding_registers if table == "hr" else client.read_input_registers
    r = fn(address, count, slave=unit)
    if r.isError():
        return {"error": str(r)}
    if t == "bit":
        return bool((r.registers[0] >> p["bit"]) & 1)
    byteorder, wordorder = ORDERS[p.get("order", "ABCD")]
    d = BinaryPayloadDecoder.fromRegisters(r.registers, byteorder=byteorder, wordorder=wordorder)
    if t == "string":
        return d.decode_string(p["length"]).decode("latin1").rstrip("\0 ")
    return {
        "int16": d.decode_16bit_int, "uint16": d.decode_16bit_uint,
        "int32": d.decode_32bit_int, "uint32": d.decode_32bit_uint,
        "int64": d.decode_64bit_int, "uint64": d.decode_64bit_uint,
        "float32": d.decode_32bit_float, "float64": d.decode_64bit_float,
    }[t]()


def main():
    spec = json.load(sys.stdin)
    if sys.argv[1] == "--rtu":
        client = ModbusSerialClient(port=sys.argv[2], method="rtu", baudrate=9600, timeout=2)
    else:
        client = ModbusTcpClient(sys.argv[1], port=int(sys.argv[2]), timeout=3)
    client.connect()
    print(json.dumps([read(client, p) for p in spec]))
    client.close()


if __name__ == "__main__":
    main()
