"""psycopg 3 with pgvector.psycopg: text and binary formats, binary COPY in and out, numpy
arrays, arrays of vectors, the async connection."""
import asyncio

import numpy as np
import psycopg
import pytest
from pgvector import Bit, HalfVector, SparseVector, Vector
from pgvector.psycopg import register_vector, register_vector_async

from contract import ClientContract
from rawsql import RawSqlClient
from reference import BITS, DIM, N, SPARSE_DIM, bits_from_text, check_knn, env


def connect():
    e = env()
    conn = psycopg.connect(host=e['host'], port=e['port'], user=e['user'], dbname=e['dbname'],
                           autocommit=True)
    register_vector(conn)
    return conn


class Psycopg3Client(RawSqlClient):
    """binary=False: every parameter dumped as text (%t), results as text; binary=True:
    parameters as binary (%b), results in binary (cursor(binary=True)), rows loaded by a
    binary COPY."""

    pyformat = True

    def __init__(self, binary):
        self.binary = binary
        self.prefix = 'pg3b' if binary else 'pg3t'
        self.conn = connect()

    def close(self):
        self.conn.close()

    def ph(self, i):
        return '%b' if self.binary else '%t'

    def cursor(self):
        return self.conn.cursor(binary=self.binary)

    def query(self, sql, params=()):
        with self.cursor() as cur:
            return cur.execute(sql, params).fetchall()

    def execute(self, sql):
        self.conn.execute(sql)

    def param(self, kind, q):
        if kind == 'vector':
            return np.asarray(q, dtype=np.float32)        # numpy dumper
        if kind == 'halfvec':
            return HalfVector(np.asarray(q, dtype=np.float16))
        if kind == 'sparsevec':
            return SparseVector(np.asarray(q, dtype=np.float32))
        return Bit(np.asarray(q, dtype=bool))

    def value(self, kind, v):
        if kind == 'bit':
            if isinstance(v, (bytes, bytearray, memoryview)):   # binary: no bit loader
                return Bit.from_binary(bytes(v)).to_numpy()
            return bits_from_text(v)
        assert isinstance(v, {'vector': Vector, 'halfvec': HalfVector,
                              'sparsevec': SparseVector}[kind]), type(v)
        return v.to_numpy()

    def insert_rows(self, table, columns, rows):
        cols = ', '.join(columns)
        if self.binary:
            types = ['int4', 'vector', 'halfvec', 'sparsevec', 'bit'][:len(columns)]
            with self.conn.cursor() as cur:
                with cur.copy(f'COPY {table} ({cols}) FROM STDIN WITH (FORMAT BINARY)') as copy:
                    copy.set_types(types)
                    for row in rows:
                        copy.write_row(row)
        else:
            marks = ', '.join(['%t'] * len(columns))
            with self.conn.cursor() as cur:
                cur.executemany(f'INSERT INTO {table} ({cols}) VALUES ({marks})', rows)


class TestPsycopg3Text(ClientContract):
    @pytest.fixture(scope='class')
    @classmethod
    def client(cls, data):
        c = Psycopg3Client(binary=False)
        c.load(data)
        yield c
        c.close()


class TestPsycopg3Binary(ClientContract):
    @pytest.fixture(scope='class')
    @classmethod
    def client(cls, data):
        c = Psycopg3Client(binary=True)
        c.load(data)
        yield c
        c.close()

    def test_copy_binary_out(self, client, data):
        """COPY ... TO STDOUT (FORMAT BINARY): the server's send functions, read by the
        adapters' binary loaders."""
        got = {}
        with client.conn.cursor() as cur:
            with cur.copy(f'COPY {client.items} (id, embedding, half_embedding, sparse_embedding, '
                          'binary_embedding) TO STDOUT WITH (FORMAT BINARY)') as copy:
                copy.set_types(['int4', 'vector', 'halfvec', 'sparsevec', 'bit'])
                for row in copy.rows():
                    got[row[0]] = row
        assert sorted(got) == list(range(N))
        for i in (0, 1, 5, N // 2, N - 1):
            _, v, h, s, b = got[i]
            np.testing.assert_array_equal(v.to_numpy(), data.vector[i])
            np.testing.assert_array_equal(h.to_numpy(), data.halfvec[i])
            assert s.dimensions() == SPARSE_DIM
            np.testing.assert_array_equal(s.to_numpy(), data.sparsevec[i])
            np.testing.assert_array_equal(Bit.from_binary(b).to_numpy(), data.bit[i])


@pytest.mark.parametrize('binary', [False, True], ids=['text', 'binary'])
def test_values(binary):
    """Edge values through each format: signed zero, subnormals, extremes, 1 and 16000
    dimensions, an empty sparse vector, a bit string of one bit."""
    f32 = np.array([0.0, -0.0, 1e-45, -3.4028235e38, 3.4028235e38, 1.17549435e-38, 0.1, -1 / 3],
                   dtype=np.float32)
    f16 = np.array([0.0, -0.0, 6e-08, 65504, -65504, 6.104e-05, 0.1, -1 / 3], dtype=np.float16)
    big = np.random.default_rng(1).standard_normal(16000).astype(np.float32)
    ph = '%b' if binary else '%t'
    with connect() as conn, conn.cursor(binary=binary) as cur:
        v, h, one, b16k, s, se, bit1 = cur.execute(
            f'SELECT {ph}::vector, {ph}::halfvec, {ph}::vector, {ph}::vector, {ph}::sparsevec, '
            f'{ph}::sparsevec, {ph}::bit',
            (f32, HalfVector(f16), Vector([7.5]), big, SparseVector({0: 1.5, 999: -2.0}, 1000),
             SparseVector({}, 3), Bit('1'))).fetchone()
        np.testing.assert_array_equal(v.to_numpy().view(np.uint32), f32.view(np.uint32))
        np.testing.assert_array_equal(h.to_numpy().view(np.uint16), f16.view(np.uint16))
        assert one.to_list() == [7.5]
        np.testing.assert_array_equal(b16k.to_numpy(), big)
        assert s == SparseVector({0: 1.5, 999: -2.0}, 1000)
        assert se.dimensions() == 3 and se.indices() == [] and se.values() == []
        bit1 = Bit.from_binary(bit1) if binary else Bit(bit1)
        assert bit1.to_text() == '1'


@pytest.mark.parametrize('binary', [False, True], ids=['text', 'binary'])
def test_arrays_of_vectors(binary, data):
    ph = '%b' if binary else '%t'
    with connect() as conn, conn.cursor(binary=binary) as cur:
        vs, hs, ss = cur.execute(
            f'SELECT ARRAY[{ph}::vector, {ph}::vector], ARRAY[{ph}::halfvec], '
            f'ARRAY[{ph}::sparsevec, NULL]',
            (data.vector[0], data.vector[1], HalfVector(data.halfvec[2]),
             SparseVector(data.sparsevec[3]))).fetchone()
        assert [x.to_numpy().tolist() for x in vs] == [data.vector[0].tolist(),
                                                       data.vector[1].tolist()]
        np.testing.assert_array_equal(hs[0].to_numpy(), data.halfvec[2])
        np.testing.assert_array_equal(ss[0].to_numpy(), data.sparsevec[3])
        assert ss[1] is None


def test_numpy_float64_is_sent_as_float32():
    x = np.array([0.1, 1 / 3, 2.0 ** 0.5])                # float64
    with connect() as conn:
        for binary in (False, True):
            v, = conn.cursor(binary=binary).execute('SELECT %s::vector', (x,)).fetchone()
            np.testing.assert_array_equal(v.to_numpy(), x.astype(np.float32))


def test_errors():
    """pgvector's errors reach the client with its SQLSTATE (22000) and wording."""
    with connect() as conn:
        conn.execute('DROP TABLE IF EXISTS pg3_err')
        conn.execute(f'CREATE TABLE pg3_err (v vector({DIM}), h halfvec({DIM}), s sparsevec(5))')
        for binary in (False, True):
            ph = '%b' if binary else '%t'
            with pytest.raises(psycopg.errors.DataException,
                               match=f'expected {DIM} dimensions, not 3'):
                conn.execute(f'INSERT INTO pg3_err (v) VALUES ({ph})', (Vector([1, 2, 3]),))
            with pytest.raises(psycopg.errors.DataException,
                               match=f'expected {DIM} dimensions, not 2'):
                conn.execute(f'INSERT INTO pg3_err (h) VALUES ({ph})', (HalfVector([1, 2]),))
            with pytest.raises(psycopg.errors.DataException,
                               match='expected 5 dimensions, not 6'):
                conn.execute(f'INSERT INTO pg3_err (s) VALUES ({ph})',
                             (SparseVector({0: 1}, 6),))
            with pytest.raises(psycopg.errors.DataException,
                               match='different vector dimensions 3 and 2'):
                conn.execute(f'SELECT {ph}::vector <-> {ph}::vector',
                             (Vector([1, 2, 3]), Vector([1, 2])))
        with pytest.raises(psycopg.errors.DataException, match='NaN not allowed in vector'):
            conn.execute('SELECT %t::vector', (Vector([1, float('nan')]),))
        with pytest.raises(psycopg.errors.DataException, match='different bit lengths 3 and 2'):
            conn.execute("SELECT B'101' <~> B'10'")
        conn.execute('DROP TABLE pg3_err')


def test_async(data):
    async def run():
        e = env()
        conn = await psycopg.AsyncConnection.connect(host=e['host'], port=e['port'],
                                                      user=e['user'], dbname=e['dbname'],
                                                      autocommit=True)
        try:
            await register_vector_async(conn)
            q = data.vector[0]
            async with conn.cursor(binary=True) as cur:
                await cur.execute(f'SELECT %b::vector, %b::halfvec, %b::sparsevec, %b::bit({BITS}), '
                                  '%b::vector <-> %b::vector',
                                  (q, HalfVector(data.halfvec[0]), SparseVector(data.sparsevec[0]),
                                   Bit(data.bit[0]), q, data.vector[1]))
                v, h, s, b, d = await cur.fetchone()
        finally:
            await conn.close()
        np.testing.assert_array_equal(v.to_numpy(), q)
        np.testing.assert_array_equal(h.to_numpy(), data.halfvec[0])
        np.testing.assert_array_equal(s.to_numpy(), data.sparsevec[0])
        np.testing.assert_array_equal(Bit.from_binary(b).to_numpy(), data.bit[0])
        ref = np.linalg.norm(data.vector[0].astype(np.float64) - data.vector[1])
        np.testing.assert_allclose(d, ref, rtol=1e-5)

    asyncio.run(run())


def test_bit_lengths():
    """Bit strings of every length 1..BITS through both formats (padding of the last byte)."""
    rng = np.random.default_rng(7)
    with connect() as conn:
        for n in range(1, BITS + 1):
            b = rng.random(n) < 0.5
            for binary in (False, True):
                ph = '%b' if binary else '%t'
                got, ham = conn.cursor(binary=binary).execute(
                    f'SELECT {ph}::bit({n}), {ph} <~> {ph}',
                    (Bit(b), Bit(b), Bit(~b))).fetchone()
                got = Bit.from_binary(got).to_numpy() if binary else bits_from_text(got)
                np.testing.assert_array_equal(got, b)
                assert ham == n


@pytest.fixture(scope='module')
def loaded(data):
    """An items table of its own (prefix pg3x), loaded by binary COPY, for the tests below."""
    c = Psycopg3Client(binary=True)
    c.prefix = 'pg3x'
    c.load(data)
    yield c
    c.close()


EXPRESSION_INDEXES = [
    # pgvector's README: half-precision indexing of a vector column
    pytest.param('flat', '(embedding::halfvec({d})) halfvec_l2_ops', '(embedding::halfvec({d})) <-> %b',
                 'halfvec', 'l2', id='flat-halfvec-cast'),
    pytest.param('ivfflat', '(embedding::halfvec({d})) halfvec_cosine_ops',
                 '(embedding::halfvec({d})) <=> %b', 'halfvec', 'cosine', id='ivfflat-halfvec-cast'),
    # subvector indexing
    pytest.param('ivfflat', '(subvector(embedding, 1, 8)::vector(8)) vector_ip_ops',
                 '(subvector(embedding, 1, 8)::vector(8)) <#> %b', 'sub8', 'ip', id='ivfflat-subvector'),
    # l2_normalize: cosine through inner product
    pytest.param('flat', '(l2_normalize(embedding)) vector_ip_ops', 'l2_normalize(embedding) <#> %b',
                 'normalized', 'ip', id='flat-l2_normalize'),
]


@pytest.mark.parametrize('method,expr,order,what,metric', EXPRESSION_INDEXES)
def test_expression_index(loaded, data, method, expr, order, what, metric):
    """Expression indexes of pgvector's README, over the real client parameters."""
    expr, order = expr.format(d=DIM), order.format(d=DIM)
    rows = {'halfvec': data.vector.astype(np.float16),
            'sub8': data.vector[:, :8],
            'normalized': data.vector / np.linalg.norm(data.vector.astype(np.float64), axis=1,
                                                       keepdims=True).astype(np.float32)}[what]
    with_ = ' WITH (lists = 8)' if method == 'ivfflat' else ''
    conn = loaded.conn
    conn.execute(f'CREATE INDEX pg3x_expr ON {loaded.items} USING {method} ({expr}){with_}')
    try:
        conn.execute('SET enable_seqscan = off')
        conn.execute('SET ivfflat.probes = 8')
        for q in data.queries['vector']:
            if what == 'halfvec':
                qp, qn = HalfVector(q.astype(np.float16)), q.astype(np.float16)
            elif what == 'sub8':
                qp = qn = q[:8]
            else:
                qn = (q / np.linalg.norm(q.astype(np.float64))).astype(np.float32)
                qp = qn
            sql = (f'SELECT id, {order} AS d FROM {loaded.items} ORDER BY d LIMIT 10')
            with conn.cursor(binary=True) as cur:
                plan = '\n'.join(r[0] for r in cur.execute('EXPLAIN (COSTS OFF) ' + sql, (qp,)))
                assert 'Index Scan using pg3x_expr' in plan, plan
                res = cur.execute(sql, (qp,)).fetchall()
            check_knn([r[0] for r in res], [r[1] for r in res], rows, qn, metric)
    finally:
        conn.execute('RESET enable_seqscan')
        conn.execute('RESET ivfflat.probes')
        conn.execute('DROP INDEX pg3x_expr')


def test_binary_quantize(loaded, data):
    """binary_quantize(embedding) <~> binary_quantize(query): re-ranking as in pgvector's README."""
    bq = data.vector > 0
    conn = loaded.conn
    for q in data.queries['vector']:
        with conn.cursor(binary=True) as cur:
            res = cur.execute(
                f'SELECT id, binary_quantize(embedding)::bit({DIM}) <~> binary_quantize(%b) AS d '
                f'FROM {loaded.items} ORDER BY d LIMIT 20', (q,)).fetchall()
            check_knn([r[0] for r in res], [r[1] for r in res], bq, q > 0, 'hamming', k=20)
            b, = cur.execute('SELECT binary_quantize(%b)', (q,)).fetchone()
            np.testing.assert_array_equal(Bit.from_binary(b).to_numpy(), q > 0)


def test_iterative_scan(loaded, data):
    """ivfflat.iterative_scan = relaxed_order (pgvector 0.8): a filter that rejects most rows
    of the probed list still gets its k rows, each with its right distance; without it one
    probe finds only the few rows of one list that pass."""
    conn = loaded.conn
    conn.execute(f'CREATE INDEX pg3x_iter ON {loaded.items} USING ivfflat (embedding vector_l2_ops) '
                 'WITH (lists = 16)')
    sub = np.flatnonzero(np.arange(N) % 50 == 0)
    sql = (f'SELECT id, embedding <-> %b AS d FROM {loaded.items} WHERE mod(id, 50) = 0 '
           'ORDER BY d LIMIT 10')
    try:
        conn.execute('SET enable_seqscan = off')
        conn.execute('SET ivfflat.probes = 1')
        for q in data.queries['vector']:
            with conn.cursor(binary=True) as cur:
                plan = '\n'.join(r[0] for r in cur.execute('EXPLAIN (COSTS OFF) ' + sql, (q,)))
                assert 'Index Scan using pg3x_iter' in plan, plan
                conn.execute('SET ivfflat.iterative_scan = off')
                few = cur.execute(sql, (q,)).fetchall()
                assert len(few) < 10
                conn.execute('SET ivfflat.iterative_scan = relaxed_order')
                conn.execute('SET ivfflat.max_probes = 16')
                res = cur.execute(sql, (q,)).fetchall()
            ids = np.array([r[0] for r in res])
            d = np.array([r[1] for r in res])
            assert len(res) == 10 and np.all(ids % 50 == 0)
            # relaxed order: rows may come slightly out of order; sort, then check each row
            order = np.argsort(d, kind='stable')
            check_knn(np.searchsorted(sub, ids[order]), d[order], data.vector[sub], q, 'l2',
                      exact=False)
    finally:
        for g in ('enable_seqscan', 'ivfflat.probes', 'ivfflat.iterative_scan', 'ivfflat.max_probes'):
            conn.execute(f'RESET {g}')
        conn.execute('DROP INDEX pg3x_iter')


def test_btree_ordering_and_distinct(loaded, data):
    """The btree opclasses: ORDER BY a vector column (element-wise), DISTINCT, equality."""
    conn = loaded.conn
    for kind, col, rows in (('vector', 'embedding', data.vector),
                            ('halfvec', 'half_embedding', data.halfvec)):
        got = [r[0] for r in conn.execute(f'SELECT id FROM {loaded.items} ORDER BY {col}, id')]
        ref = np.lexsort((np.arange(N),) + tuple(rows[:, j] for j in range(rows.shape[1] - 1, -1, -1)))
        assert got == ref.tolist()
        n, = conn.execute(f'SELECT count(DISTINCT {col}) FROM {loaded.items}').fetchone()
        assert n == N - 10                                          # ten duplicated rows
        q = Vector(rows[4].astype(np.float32)) if kind == 'vector' else HalfVector(rows[4])
        ids = sorted(r[0] for r in conn.execute(
            f'SELECT id FROM {loaded.items} WHERE {col} = %b', (q,)))
        assert ids == [4, N - 10 + 4]
    n, = conn.execute(f'SELECT count(DISTINCT sparse_embedding) FROM {loaded.items}').fetchone()
    assert n == N - 10


@pytest.mark.parametrize('method', ['flat', 'ivfflat'])
def test_prepared_generic_plan(loaded, data, method):
    """psycopg prepares a statement run often (prepare=True here) and Postgres may then plan it
    once for any parameter: the index must serve the generic plan too."""
    conn = loaded.conn
    with_ = ' WITH (lists = 8)' if method == 'ivfflat' else ''
    conn.execute(f'CREATE INDEX pg3x_gen ON {loaded.items} USING {method} '
                 f'(half_embedding halfvec_cosine_ops){with_}')
    try:
        conn.execute('SET plan_cache_mode = force_generic_plan')
        conn.execute('SET enable_seqscan = off')
        conn.execute('SET ivfflat.probes = 8')
        sql = (f'SELECT id, half_embedding <=> %b AS d FROM {loaded.items} ORDER BY d LIMIT %b')
        with conn.cursor(binary=True) as cur:
            for _ in range(3):
                for q in data.queries['halfvec']:
                    res = cur.execute(sql, (HalfVector(q), 10), prepare=True).fetchall()
                    check_knn([r[0] for r in res], [r[1] for r in res], data.halfvec, q, 'cosine')
        # the server-side prepared statement psycopg made: its generic plan uses the index
        stmts = conn.execute("SELECT name FROM pg_prepared_statements WHERE statement LIKE "
                             "'%%half_embedding <=> $1%%'").fetchall()
        assert stmts, 'psycopg did not prepare the statement'
        q = HalfVector(data.queries['halfvec'][0]).to_text()
        plan = '\n'.join(r[0] for r in conn.execute(
            f'EXPLAIN (COSTS OFF) EXECUTE "{stmts[0][0]}"(\'{q}\', 10)'))
        assert 'Index Scan using pg3x_gen' in plan and '$1' in plan, plan
    finally:
        for g in ('plan_cache_mode', 'enable_seqscan', 'ivfflat.probes'):
            conn.execute(f'RESET {g}')
        conn.execute('DROP INDEX pg3x_gen')


def test_binary_input_checks():
    """The receive functions check what a binary client sends, with pgvector's errors."""
    from array import array
    h_inf = HalfVector.__new__(HalfVector)
    h_inf._value = array('H', [0x7c00, 0x3c00])          # +inf, 1.0
    cases = [
        (Vector([1, float('nan')]), 'vector', 'NaN not allowed in vector'),
        (Vector([float('inf')]), 'vector', 'infinite value not allowed in vector'),
        (Vector.from_binary(b'\x00\x00\x00\x00'), 'vector', 'vector must have at least 1 dimension'),
        (h_inf, 'halfvec', 'infinite value not allowed in halfvec'),
        (SparseVector._from_parts(5, [3, 1], [1.0, 2.0]), 'sparsevec',
         'sparsevec indices must be in ascending order'),
        (SparseVector._from_parts(5, [1, 1], [1.0, 2.0]), 'sparsevec',
         'sparsevec indices must not contain duplicates'),
        (SparseVector._from_parts(5, [1], [0.0]), 'sparsevec',
         'binary representation of sparsevec cannot contain zero values'),
        (SparseVector._from_parts(5, [5], [1.0]), 'sparsevec', 'sparsevec index out of bounds'),
    ]
    with connect() as conn:
        for value, typ, message in cases:
            with pytest.raises(psycopg.errors.DataException, match=message):
                conn.execute(f'SELECT %b::{typ}', (value,))
        with pytest.raises(psycopg.errors.ProgramLimitExceeded,
                           match='vector cannot have more than 16000 dimensions'):
            conn.execute('SELECT %b::vector', (np.zeros(16001, np.float32),))
        s, = conn.cursor(binary=True).execute(
            'SELECT %b::sparsevec', (SparseVector({999999999: 1.5}, 1000000000),)).fetchone()
        assert s == SparseVector({999999999: 1.5}, 1000000000)
