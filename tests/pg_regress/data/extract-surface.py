#!/usr/bin/env python3
"""Lists the SQL objects pgvector's install script defines, one line each, in the form the
regression test `surface.sql` compares with the catalog:

  function  name(argtypes) -> rettype volatility strict parallel
  aggregate name(argtypes)
  operator  left op right
  cast      source -> target context
  opclass   name am type
  type      name

  python3 tests/pg_regress/data/extract-surface.py pgvector/sql/vector.sql > tests/pg_regress/data/pgvector-0.8.6-surface.txt

Type names are normalised as format_type() prints them (float8 -> double precision, …)."""
import re
import sys

TYPES = {
    'float8': 'double precision', 'float4': 'real', 'int4': 'integer', 'int': 'integer',
    'bool': 'boolean', 'int8': 'bigint', 'bit': 'bit', 'internal': 'internal',
}

def norm_type(t):
    t = ' '.join(t.strip().split())
    arr = t.endswith('[]')
    base = t[:-2].strip() if arr else t
    base = TYPES.get(base, base)
    return base + ('[]' if arr else '')

def main(path):
    sql = open(path).read()
    sql = re.sub(r'--[^\n]*', '', sql)
    out = set()
    for m in re.finditer(r'CREATE FUNCTION\s+(\w+)\s*\(([^)]*)\)\s*RETURNS\s+([\w\s\[\]]+?)\s+AS\s.*?;', sql, re.S):
        name, args, ret = m.group(1), m.group(2), m.group(3)
        body = m.group(0)
        args = ', '.join(norm_type(a) for a in args.split(',')) if args.strip() else ''
        vol = 'i' if 'IMMUTABLE' in body else ('s' if 'STABLE' in body else 'v')
        strict = 'strict' if 'STRICT' in body else 'nonstrict'
        par = 's' if 'PARALLEL SAFE' in body else 'u'
        out.add(f'function {name}({args}) -> {norm_type(ret)} {vol} {strict} {par}')
    for m in re.finditer(r'CREATE AGGREGATE\s+(\w+)\s*\(([^)]*)\)', sql):
        out.add(f'aggregate {m.group(1)}({norm_type(m.group(2))})')
    for m in re.finditer(r'CREATE OPERATOR\s+([^\s(]+)\s*\((.*?)\);', sql, re.S):
        if m.group(1) in ('CLASS', 'FAMILY'):
            continue
        body = m.group(2)
        left = re.search(r'LEFTARG\s*=\s*([\w ]+?)\s*,', body).group(1)
        right = re.search(r'RIGHTARG\s*=\s*([\w ]+?)\s*,', body).group(1)
        out.add(f'operator {norm_type(left)} {m.group(1)} {norm_type(right)}')
    for m in re.finditer(r'CREATE CAST\s*\(\s*([\w\s\[\]]+?)\s+AS\s+([\w\s\[\]]+?)\s*\)(.*?);', sql, re.S):
        ctx = 'implicit' if 'AS IMPLICIT' in m.group(3) else ('assignment' if 'AS ASSIGNMENT' in m.group(3) else 'explicit')
        out.add(f'cast {norm_type(m.group(1))} -> {norm_type(m.group(2))} {ctx}')
    for m in re.finditer(r'CREATE OPERATOR CLASS\s+(\w+)\s+(?:DEFAULT\s+)?FOR TYPE\s+(\w+)\s+USING\s+(\w+)', sql):
        out.add(f'opclass {m.group(1)} {m.group(3)} {norm_type(m.group(2))}')
    for m in re.finditer(r'CREATE TYPE\s+(\w+)\s*;', sql):
        out.add(f'type {m.group(1)}')
    for m in re.finditer(r'CREATE ACCESS METHOD\s+(\w+)', sql):
        out.add(f'access method {m.group(1)}')
    print('\n'.join(sorted(out)))

main(sys.argv[1])
