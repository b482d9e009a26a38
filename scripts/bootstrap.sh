#!/usr/bin/env bash
# Set up everything local runs and tests need, on a fresh machine or an old one (idempotent):
# Java 17 if missing, a virtualenv with the lane's pinned pyspark + delta-spark and the test extras,
# and Azurite (npm) for the Azure tests. Delta jars come from Maven Central on the first Spark start
# and are cached in ~/.ivy2* after that.
#   LANE=a (Spark 3.5, default) or LANE=b (Spark 4.0); VENV defaults to .venv / .venv-b
set -euo pipefail
cd "$(dirname "$0")/.."
LANE="${LANE:-a}"
if [ "$LANE" = "a" ]; then VENV="${VENV:-.venv}"; else VENV="${VENV:-.venv-$LANE}"; fi
PY="${PYTHON:-python3}"
if [ -z "${PYTHON:-}" ] && [ "$LANE" = "b" ]; then
  # Lane B stands for DBR 17.3 LTS, which runs Python 3.12: use a 3.12 interpreter when the machine
  # has one (on PATH, or pyenv's). Debian 12's apt has none; PYTHON=... overrides.
  for cand in python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12; do
    if "$cand" -c 'import sys, venv; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then PY="$cand"; fi
  done
fi

if ! command -v java >/dev/null 2>&1; then
  echo "bootstrap: installing Java 17 (openjdk-17-jre-headless)" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

stamp_src="$(cat setup.py requirements/lane-$LANE.txt | sha256sum | cut -c1-16)"
stamp="$VENV/.nuvyn-bootstrap"
want_py="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
have_py="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$stamp_src" ] || [ "$have_py" != "$want_py" ]; then
  echo "bootstrap: creating $VENV (lane $LANE, Python $want_py)" >&2
  "$PY" -m venv --clear "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip wheel setuptools
  "$VENV/bin/pip" install -q -r "requirements/lane-$LANE.txt" -e ".[test]"
  echo "$stamp_src" > "$stamp"
fi

if [ "${NUVYN_SKIP_AZURITE:-0}" != "1" ] && [ ! -x .tools/node_modules/.bin/azurite ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "bootstrap: installing azurite (npm) into .tools" >&2
    mkdir -p .tools
    npm install --silent --no-audit --no-fund --prefix .tools azurite@3 >/dev/null
  else
    echo "bootstrap: npm not found; Azure tests will be skipped (apt-get install nodejs npm)" >&2
  fi
fi
