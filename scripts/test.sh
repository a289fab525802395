#!/usr/bin/env bash
# Install headwater with its test extras in a virtualenv (.venv by default), check types,
# and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${HEADWATER_VENV:-.venv}"
# The Graphviz `dot` program draws flow pictures (flow.visualize); the tests need it.
if ! command -v dot >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
    else
        echo "The Graphviz 'dot' program is missing: install it (apt-get install graphviz, brew install graphviz)." >&2
        exit 2
    fi
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -U pip
"$VENV/bin/python" -m pip install -q -e '.[test]'
export PATH="$PWD/$VENV/bin:$PATH"
"$VENV/bin/python" -m ruff check .
"$VENV/bin/python" -m mypy headwater
"$VENV/bin/python" -m pytest "$@"
