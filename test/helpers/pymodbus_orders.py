"""Word orders of 32/64-bit Modbus values as pymodbus (3.0) names them: (byteorder, wordorder).
Shared by pymodbus_read.py and pymodbus_server.py, which Python runs from this directory."""
from pymodbus.constants import Endian

ORDERS = {
    "ABCD": (Endian.Big, Endian.Big),
    "CDAB": (Endian.Big, Endian.Little),
    "BADC": (Endian.Little, Endian.Big),
    "DCBA": (Endian.Little, Endian.Little),
}
