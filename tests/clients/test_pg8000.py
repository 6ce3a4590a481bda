"""pg8000 (pure Python, native API) with pgvector.pg8000: text adapters in and out."""
import numpy as np
import pg8000.native
import pytest
from pgvector import HalfVector, SparseVector, Vector
from pgvector.pg8000 import register_vector

from contract import ClientContract
from rawsql import RawSqlClient
from reference import bit_text, bits_from_text, env


def connect():
    e = env()
    conn = pg8000.native.Connection(host=e['host'], port=e['port'], user=e['user'],
                                    database=e['dbname'])
    register_vector(conn)
    return conn


class Pg8000Client(RawSqlClient):
    prefix = 'p8k'

    def __init__(self):
        self.conn = connect()

    def close(self):
        self.conn.close()

    def ph(self, i):
        return f':p{i}'

    def query(self, sql, params=()):
        return [tuple(r) for r in self.conn.run(sql, **{f'p{i + 1}': p for i, p in enumerate(params)})]

    def execute(self, sql):
        self.conn.run(sql)

    def param(self, kind, q):
        if kind == 'vector':
            return np.asarray(q, dtype=np.float32)           # numpy out-adapter
        if kind == 'halfvec':
            return HalfVector(np.asarray(q, dtype=np.float16))
        if kind == 'sparsevec':
            return SparseVector(np.asarray(q, dtype=np.float32))
        return bit_text(q)

    def value(self, kind, v):
        if kind == 'bit':
            return bits_from_text(v)
        assert isinstance(v, {'vector': Vector, 'halfvec': HalfVector,
                              'sparsevec': SparseVector}[kind]), type(v)
        return v.to_numpy()

    def insert_rows(self, table, columns, rows):
        marks = ', '.join(f':p{j + 1}' for j in range(len(columns)))
        sql = f'INSERT INTO {table} ({", ".join(columns)}) VALUES ({marks})'
        self.conn.run('BEGIN')
        try:
            for row in rows:
                self.conn.run(sql, **{f'p{j + 1}': v for j, v in enumerate(row)})
            self.conn.run('COMMIT')
        except Exception:
            self.conn.run('ROLLBACK')
            raise


class TestPg8000(ClientContract):
    @pytest.fixture(scope='class')
    @classmethod
    def client(cls, data):
        c = Pg8000Client()
        c.load(data)
        yield c
        c.close()


def test_prepared_statement(data):
    conn = connect()
    try:
        ps = conn.prepare('SELECT :v::vector <=> :w::vector, :h::halfvec <+> :h::halfvec')
        for i in range(5):
            (cos, l1), = ps.run(v=Vector(data.vector[i]), w=data.vector[i + 1],
                                h=HalfVector(data.halfvec[i]))
            a, b = data.vector[i].astype(np.float64), data.vector[i + 1].astype(np.float64)
            np.testing.assert_allclose(cos, 1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b),
                                       rtol=1e-5, atol=1e-6)
            assert l1 == 0.0
        ps.close()
    finally:
        conn.close()
