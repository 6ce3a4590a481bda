"""psycopg2 with pgvector.psycopg2 (text format only: the adapters quote text literals, the
casters parse text): execute_values, text COPY, arrays of vectors."""
import io

import numpy as np
import psycopg2
import psycopg2.errors
import psycopg2.extras
import pytest
from pgvector import HalfVector, SparseVector, Vector
from pgvector.psycopg2 import register_vector

from contract import ClientContract
from rawsql import RawSqlClient
from reference import DIM, bit_text, bits_from_text, env


def connect():
    e = env()
    conn = psycopg2.connect(host=e['host'], port=e['port'], user=e['user'], dbname=e['dbname'])
    conn.autocommit = True
    register_vector(conn)
    return conn


class Psycopg2Client(RawSqlClient):
    prefix = 'pg2'
    pyformat = True

    def __init__(self):
        self.conn = connect()

    def close(self):
        self.conn.close()

    def ph(self, i):
        return '%s'

    def query(self, sql, params=()):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def execute(self, sql):
        with self.conn.cursor() as cur:
            cur.execute(sql)

    def param(self, kind, q):
        if kind == 'vector':
            return np.asarray(q, dtype=np.float32)         # adapted through VectorAdapter
        if kind == 'halfvec':
            return HalfVector(np.asarray(q, dtype=np.float16))
        if kind == 'sparsevec':
            return SparseVector(np.asarray(q, dtype=np.float32))
        return bit_text(q)                                 # bit: a plain string literal

    def value(self, kind, v):
        if kind == 'bit':
            return bits_from_text(v)
        assert isinstance(v, {'vector': Vector, 'halfvec': HalfVector,
                              'sparsevec': SparseVector}[kind]), type(v)
        return v.to_numpy()

    def insert_rows(self, table, columns, rows):
        with self.conn.cursor() as cur:
            psycopg2.extras.execute_values(
                cur, f'INSERT INTO {table} ({", ".join(columns)}) VALUES %s', rows, page_size=500)


class TestPsycopg2(ClientContract):
    @pytest.fixture(scope='class')
    @classmethod
    def client(cls, data):
        c = Psycopg2Client()
        c.load(data)
        yield c
        c.close()


def test_copy_text(data):
    """COPY FROM STDIN in text format, values written with the pgvector classes' to_text()."""
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute('DROP TABLE IF EXISTS pg2_copy')
            cur.execute(f'CREATE TABLE pg2_copy (id int, v vector({DIM}), h halfvec({DIM}), '
                        f's sparsevec({data.sparsevec.shape[1]}), b bit({data.bit.shape[1]}))')
            buf = io.StringIO()
            for i in range(200):
                buf.write(f'{i}\t{Vector(data.vector[i]).to_text()}\t'
                          f'{HalfVector(data.halfvec[i]).to_text()}\t'
                          f'{SparseVector(data.sparsevec[i]).to_text()}\t{bit_text(data.bit[i])}\n')
            buf.seek(0)
            cur.copy_expert('COPY pg2_copy FROM STDIN', buf)
            cur.execute('SELECT id, v, h, s, b FROM pg2_copy ORDER BY id')
            rows = cur.fetchall()
            assert len(rows) == 200
            for i, v, h, s, b in rows:
                np.testing.assert_array_equal(v.to_numpy(), data.vector[i])
                np.testing.assert_array_equal(h.to_numpy(), data.halfvec[i])
                np.testing.assert_array_equal(s.to_numpy(), data.sparsevec[i])
                np.testing.assert_array_equal(bits_from_text(b), data.bit[i])
            out = io.StringIO()
            cur.copy_expert('COPY (SELECT v, h, s FROM pg2_copy WHERE id = 7) TO STDOUT', out)
            v, h, s = out.getvalue().rstrip('\n').split('\t')
            np.testing.assert_array_equal(Vector.from_text(v).to_numpy(), data.vector[7])
            np.testing.assert_array_equal(HalfVector.from_text(h).to_numpy(), data.halfvec[7])
            np.testing.assert_array_equal(SparseVector.from_text(s).to_numpy(), data.sparsevec[7])
            cur.execute('DROP TABLE pg2_copy')
    finally:
        conn.close()


def test_arrays(data):
    """register_vector(arrays=True) also casts vector[], halfvec[], sparsevec[]."""
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT ARRAY[%s, %s]::vector[], ARRAY[%s]::halfvec[], ARRAY[%s]::sparsevec[]',
                        (data.vector[0], Vector(data.vector[1]), HalfVector(data.halfvec[2]),
                         SparseVector(data.sparsevec[3])))
            vs, hs, ss = cur.fetchone()
        np.testing.assert_array_equal(np.stack([x.to_numpy() for x in vs]), data.vector[:2])
        np.testing.assert_array_equal(hs[0].to_numpy(), data.halfvec[2])
        np.testing.assert_array_equal(ss[0].to_numpy(), data.sparsevec[3])
    finally:
        conn.close()


def test_errors():
    conn = connect()
    try:
        with conn.cursor() as cur:
            with pytest.raises(psycopg2.errors.DataException,
                               match='different vector dimensions 3 and 2'):
                cur.execute('SELECT %s::vector <=> %s::vector', (Vector([1, 2, 3]), Vector([1, 2])))
            with pytest.raises(psycopg2.errors.DataException,
                               match='different halfvec dimensions 1 and 2'):
                cur.execute('SELECT %s::halfvec <-> %s::halfvec', (HalfVector([1]), HalfVector([1, 2])))
            with pytest.raises(psycopg2.errors.DataException,
                               match='different sparsevec dimensions 3 and 4'):
                cur.execute('SELECT %s::sparsevec <#> %s::sparsevec',
                            (SparseVector({0: 1}, 3), SparseVector({0: 1}, 4)))
    finally:
        conn.close()
