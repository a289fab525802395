#!/usr/bin/env bash
# Install headwater with its test extras in a virtualenv (.venv by default), check types,
# and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${HEADWATER_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -U pip
"$VENV/bin/python" -m pip install -q -e '.[test]'
export PATH="$PWD/$VENV/bin:$PATH"
"$VENV/bin/python" -m ruff check .
"$VENV/bin/python" -m mypy headwater
"$VENV/bin/python" -m pytest "$@"
