#!/usr/bin/python3
"""A Modbus TCP server from Debian's python3-pymodbus (an implementation independent of ours), for tests.

Usage: /usr/bin/python3 pymodbus_server.py PORT CONFIG.json

CONFIG: {"units": {"1": [{"table": "hr"|"ir"|"co"|"di", "address": 0, "type": "float32", "order": "CDAB",
"value": 230.2}, ...]}}. Values are laid out with pymodbus's own BinaryPayloadBuilder, so the test never
encodes with the code under test. Prints {"ready": PORT} once listening and {"write": {...}} for every write
a client makes, one JSON object per line.
"""
import asyncio
import json
import logging
import sys

from pymodbus_orders import ORDERS
from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.payload import BinaryPayloadBuilder
from pymodbus.server.async_io import StartAsyncTcpServer

logging.basicConfig(level=logging.CRITICAL)

SIZE = 0x4100


def registers(entry):
    byteorder, wordorder = ORDERS[entry.get("order", "ABCD")]
    b = BinaryPayloadBuilder(byteorder=byteorder, wordorder=wordorder)
    t, v = entry["type"], entry["value"]
    if t == "string":
        raw = v.encode("latin1")
        if len(raw) % 2:
            raw += b"\0"
        b.add_string(raw)
    else:
        getattr(b, {
            "int16": "add_16bit_int", "uint16": "add_16bit_uint",
            "int32": "add_32bit_int", "uint32": "add_32bit_uint",
            "int64": "add_64bit_int", "uint64": "add_64bit_uint",
            "float32": "add_32bit_float", "float64": "add_64bit_float",
        }[t])(v)
    return b.to_registers()


class LoggingSlave(ModbusSlaveContext):
    def __init__(self, unit, **kwargs):
        super().__init__(zero_mode=True, **kwargs)
        self.unit = unit

    def setValues(self, fc_as_hex, address, values):  # noqa: N802 (pymodbus API)
        super().setValues(fc_as_hex, address, values)
        print(json.dumps({"write": {"unit": self.unit, "fc": fc_as_hex, "address": address,
                                    "values": [v if isinstance(v, bool) else int(v) for v in values]}}), flush=True)


def build(config):
    slaves = {}
    for unit, entries in config["units"].items():
        tables = {k: [0] * SIZE for k in ("hr", "ir")}
        tables.update({k: [False] * SIZE for k in ("co", "di")})
        for e in entries:
            if e["table"] in ("co", "di"):
                tables[e["table"]][e["address"]] = bool(e["value"])
            else:
                regs = registers(e) if "type" in e else [e["value"]]
                tables[e["table"]][e["address"]:e["address"] + len(regs)] = regs
        slaves[int(unit)] = LoggingSlave(int(unit), **{k: ModbusSequentialDataBlock(0, v) for k, v in tables.items()})
    return ModbusServerContext(slaves=slaves, single=False)


async def main():
    port = int(sys.argv[1])
    with open(sys.argv[2], encoding="utf8") as f:
        config = json.load(f)
    server = await StartAsyncTcpServer(context=build(config), address=("127.0.0.1", port), defer_start=True)
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    print(json.dumps({"ready": port}), flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main())
