#!/usr/bin/python3
"""Imports the named test helper modules (beside this file) exactly as the tests run them, so that every
module they import is checked, not only the top-level package: pymodbus's server imports serial_asyncio,
which Debian ships separately (python3-serial-asyncio, a Recommends of python3-pymodbus).

Usage: /usr/bin/python3 python_imports.py MODULE [MODULE ...]   (exit 0, or 1 with the ImportError)
Used by .ci/run (what to install) and test/helpers/env.ts (whether the pymodbus tests can run).
"""
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
failed = False
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception as err:  # ImportError, or anything the module raises while importing
        print(f"{name}: {type(err).__name__}: {err}", file=sys.stderr)
        failed = True
sys.exit(1 if failed else 0)
