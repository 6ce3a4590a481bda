#!/usr/bin/env bash
# The virtualenv of the client-library test layer (tests/clients): pgvector's Python package
# and the drivers and ORMs it adapts, at pinned versions from PyPI.
#
#   bash scripts/clients-venv.sh          (idempotent: a no-op once the venv is up to date)
#   VECTOR_EXT_VENV=/some/dir bash scripts/clients-venv.sh
#
# The pip step is skipped when the venv's stamp file records the same requirement list (and
# the same Python); change a pin below and the next run reinstalls.
set -euo pipefail

VENV=${VECTOR_EXT_VENV:-$HOME/.cache/vector_ext/clients-venv}
PYTHON=${PYTHON:-python3}

# Pinned for Python 3.11 (Django 6 and numpy 2.5 need 3.12, hence 5.2 LTS and 2.4).
REQUIREMENTS=(
  pgvector==0.5.1
  numpy==2.4.6
  "psycopg[binary]==3.3.9"
  psycopg2-binary==2.9.13
  asyncpg==0.32.0
  pg8000==1.31.6
  SQLAlchemy==2.1.9
  sqlmodel==0.0.50
  Django==5.2.19
  peewee==4.5.3
  pytest==9.2.0
)

say() { printf '\033[1m[clients-venv]\033[0m %s\n' "$*" >&2; }

# python3 -m venv needs Debian's python3-venv (ensurepip) for the system interpreter.
if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
  say "python3 -m venv is not usable: installing Debian package python3-venv"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  say "creating virtualenv $VENV ($("$PYTHON" --version 2>&1))"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.vector_ext-requirements"
wanted=$(printf '%s\n' "python $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')" \
  "${REQUIREMENTS[@]}")
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  say "virtualenv $VENV is up to date (${#REQUIREMENTS[@]} pinned packages)"
  exit 0
fi

say "installing into $VENV: ${REQUIREMENTS[*]}"
rm -f "$stamp"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q "${REQUIREMENTS[@]}"
"$VENV/bin/python" -m pip check >&2
printf '%s\n' "$wanted" >"$stamp"
say "virtualenv $VENV ready"
