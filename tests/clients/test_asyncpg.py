"""asyncpg with pgvector.asyncpg: binary codecs for vector, halfvec, sparsevec (bit through
asyncpg's own BitString), rows loaded by copy_records_to_table (binary COPY)."""
import asyncio

import asyncpg
import numpy as np
import pytest
from pgvector import HalfVector, SparseVector, Vector
from pgvector.asyncpg import register_vector

from contract import ClientContract
from rawsql import RawSqlClient
from reference import DIM, bit_text, bits_from_text, env


async def connect():
    e = env()
    conn = await asyncpg.connect(host=e['host'], port=e['port'], user=e['user'],
                                 database=e['dbname'])
    await register_vector(conn)
    return conn


class AsyncpgClient(RawSqlClient):
    prefix = 'apg'

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.conn = self.run(connect())

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def close(self):
        self.run(self.conn.close())
        self.loop.close()

    def ph(self, i):
        return f'${i}'

    def query(self, sql, params=()):
        return [tuple(r) for r in self.run(self.conn.fetch(sql, *params))]

    def execute(self, sql):
        self.run(self.conn.execute(sql))

    def param(self, kind, q):
        if kind == 'vector':
            return np.asarray(q, dtype=np.float32)          # encoder wraps it in Vector
        if kind == 'halfvec':
            return HalfVector(np.asarray(q, dtype=np.float16))
        if kind == 'sparsevec':
            return SparseVector(np.asarray(q, dtype=np.float32))
        return asyncpg.BitString(bit_text(q))

    def value(self, kind, v):
        if kind == 'bit':
            assert isinstance(v, asyncpg.BitString), type(v)
            return bits_from_text(v.as_string().replace(' ', ''))
        assert isinstance(v, {'vector': Vector, 'halfvec': HalfVector,
                              'sparsevec': SparseVector}[kind]), type(v)
        return v.to_numpy()

    def insert_rows(self, table, columns, rows):
        # binary COPY through the registered binary codecs
        self.run(self.conn.copy_records_to_table(table, records=rows, columns=list(columns)))


class TestAsyncpg(ClientContract):
    @pytest.fixture(scope='class')
    @classmethod
    def client(cls, data):
        c = AsyncpgClient()
        c.load(data)
        yield c
        c.close()

    def test_executemany_and_prepared(self, client, data):
        """executemany (binary parameters) and a prepared statement run many times."""
        async def run():
            conn = client.conn
            await conn.execute('DROP TABLE IF EXISTS apg_many')
            await conn.execute(f'CREATE TABLE apg_many (id int, v vector({DIM}), h halfvec({DIM}))')
            await conn.executemany('INSERT INTO apg_many VALUES ($1, $2, $3)',
                                   [(i, Vector(data.vector[i]), HalfVector(data.halfvec[i]))
                                    for i in range(100)])
            stmt = await conn.prepare('SELECT v, h, v <-> $2 FROM apg_many WHERE id = $1')
            for i in range(0, 100, 9):
                v, h, d = await stmt.fetchrow(i, data.vector[0])
                np.testing.assert_array_equal(v.to_numpy(), data.vector[i])
                np.testing.assert_array_equal(h.to_numpy(), data.halfvec[i])
                ref = np.linalg.norm(data.vector[i].astype(np.float64) - data.vector[0])
                np.testing.assert_allclose(d, ref, rtol=1e-5, atol=1e-6)
            await conn.execute('DROP TABLE apg_many')

        client.run(run())


def test_pool_and_types():
    """A pool whose init registers the codecs; lists in, classes out; NULLs."""
    async def run():
        e = env()
        pool = await asyncpg.create_pool(host=e['host'], port=e['port'], user=e['user'],
                                         database=e['dbname'], min_size=2, max_size=2,
                                         init=register_vector)
        try:
            async with pool.acquire() as conn:
                v, h, s, n = await conn.fetchrow(
                    'SELECT $1::vector, $2::halfvec, $3::sparsevec, $4::vector',
                    [1.5, -2, 0], [0.5, 65504], SparseVector({2: 7.25}, 9), None)
        finally:
            await pool.close()
        assert v.to_list() == [1.5, -2.0, 0.0]
        assert h.to_list() == [0.5, 65504.0]
        assert s == SparseVector({2: 7.25}, 9)
        assert n is None

    asyncio.run(run())
