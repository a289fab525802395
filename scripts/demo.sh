#!/usr/bin/env bash
# Install headwater in a virtualenv (.venv by default) and run the demo flow.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${HEADWATER_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -U pip
"$VENV/bin/python" -m pip install -q -e .
"$VENV/bin/python" examples/demo.py
