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
PYTHON=${PYTHON:-python3}   # the interpreter the venv is made from

# Pinned for Python 3.11 (Django 6 and numpy 2.5 need 3.12, hence 5.2 LTS and 2.4).
REQUIREMENTS=(
  pgvector==0.5.1
  numpy==2.4.6
  "psycopg[binary]==3.3.9"
  psycopg2-binary==2.9.13
  asyncpg==0.32.0
  pg8000==1.31.6
  "SQLAlchemy[asyncio]==2.1.9"
  sqlmodel==0.0.50
  Django==5.2.19
  peewee==4.5.3
  pytest==9.2.0
)
# What those pull in, pinned too (pip check passes with exactly these), so a new release of a
# dependency cannot change the layer under CI.
CONSTRAINTS=(
  annotated-types==0.8.0 asgiref==3.13.0 asn1crypto==1.5.1 greenlet==3.5.6 iniconfig==2.3.1
  packaging==26.4 pluggy==1.7.0 psycopg-binary==3.3.9 pydantic==2.14.4 pydantic_core==2.50.5
  Pygments==2.21.0 python-dateutil==4.0.0 scramp==1.5.0 sqlparse==0.6.1
  typing-inspection==0.4.5 typing_extensions==4.16.0 tzdata==2026.6
)

say() { printf '\033[1m[clients-venv]\033[0m %s\n' "$*" >&2; }

# python3 -m venv needs ensurepip, which Debian ships separately (python3-venv).
venv_works() { "$1" -m venv --help >/dev/null 2>&1 && "$1" -c 'import ensurepip' 2>/dev/null; }
if ! venv_works "$PYTHON"; then
  say "$PYTHON -m venv is not usable: installing Debian package python3-venv"
  sudo_=(); [ "$(id -u)" -eq 0 ] || sudo_=(sudo)
  "${sudo_[@]}" apt-get update -qq
  "${sudo_[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  if ! venv_works "$PYTHON" && venv_works /usr/bin/python3; then
    PYTHON=/usr/bin/python3     # python3-venv serves Debian's interpreter
  fi
fi

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  say "creating virtualenv $VENV ($("$PYTHON" --version 2>&1))"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.vector_ext-requirements"
wanted=$(printf '%s\n' "python $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')" \
  "${REQUIREMENTS[@]}" -- "${CONSTRAINTS[@]}")
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  say "virtualenv $VENV is up to date (${#REQUIREMENTS[@]} pinned packages)"
  exit 0
fi

say "installing into $VENV: ${REQUIREMENTS[*]}"
rm -f "$stamp"
constraints=$(mktemp)
printf '%s\n' "${CONSTRAINTS[@]}" >"$constraints"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -c "$constraints" "${REQUIREMENTS[@]}"
rm -f "$constraints"
"$VENV/bin/python" -m pip check >&2
printf '%s\n' "$wanted" >"$stamp"
say "virtualenv $VENV ready"
