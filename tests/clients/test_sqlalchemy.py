"""SQLAlchemy 2 with pgvector.sqlalchemy (VECTOR, HALFVEC, SPARSEVEC, BIT, their distance
comparators, avg/sum), over the psycopg 3, psycopg2 and pg8000 dialects, and asyncpg through
the asyncio extension."""
import asyncio
from contextlib import contextmanager

import numpy as np
import pytest
from pgvector import HalfVector, SparseVector
from pgvector.sqlalchemy import BIT, HALFVEC, SPARSEVEC, VECTOR, avg, sum as vsum
from sqlalchemy import Index, Integer, create_engine, event, false, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, mapped_column

from contract import ClientContract
from reference import (BITS, COLUMN, DIM, LISTS, N, SPARSE_DIM, bit_text, bits_from_text,
                       check_knn, env, opclass)

COMPARATOR = {'l2': 'l2_distance', 'ip': 'max_inner_product', 'cosine': 'cosine_distance',
              'l1': 'l1_distance', 'hamming': 'hamming_distance', 'jaccard': 'jaccard_distance'}


def url(driver):
    e = env()
    return f'postgresql+{driver}://{e["user"]}@{e["host"]}:{e["port"]}/{e["dbname"]}'


def make_models(prefix):
    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = f'{prefix}_items'
        id = mapped_column(Integer, primary_key=True, autoincrement=False)
        embedding = mapped_column(VECTOR(DIM))
        half_embedding = mapped_column(HALFVEC(DIM))
        sparse_embedding = mapped_column(SPARSEVEC(SPARSE_DIM))
        binary_embedding = mapped_column(BIT(BITS))

    class Agg(Base):
        __tablename__ = f'{prefix}_agg'
        id = mapped_column(Integer, primary_key=True, autoincrement=False)
        embedding = mapped_column(VECTOR(DIM))
        half_embedding = mapped_column(HALFVEC(DIM))

    return Base, Item, Agg


def to_param(kind, q):
    if kind == 'vector':
        return np.asarray(q, dtype=np.float32)
    if kind == 'halfvec':
        return HalfVector(np.asarray(q, dtype=np.float16))
    if kind == 'sparsevec':
        return SparseVector(np.asarray(q, dtype=np.float32))
    return bit_text(q)


def from_result(kind, v):
    if kind == 'vector':
        assert isinstance(v, list), type(v)
        return np.array(v, dtype=np.float32)
    if kind == 'halfvec':
        assert isinstance(v, list), type(v)
        return np.array(v, dtype=np.float16)
    if kind == 'sparsevec':
        assert isinstance(v, SparseVector), type(v)
        return v.to_numpy()
    return bits_from_text(v)


PG8000_JACCARD = (
    'client-side, not vector_ext: the pg8000 dialect sends BIT.jaccard_distance\'s operator '
    '<%> unescaped and pg8000 rejects it ("Only %s and %% are supported in the query")')


class SqlalchemyClient:
    def __init__(self, driver, prefix):
        self.driver = driver
        self.prefix = prefix
        self.engine = create_engine(url(driver))
        self.Base, self.Item, self.Agg = make_models(prefix)
        self.conn = self.engine.connect().execution_options(isolation_level='AUTOCOMMIT')
        self.session = Session(bind=self.conn)
        self.indexes = {}

    def close(self):
        self.session.close()
        self.conn.close()
        self.engine.dispose()

    def has_access_method(self, name):
        return self.conn.execute(text('SELECT count(*) FROM pg_am WHERE amname = :n'),
                                 {'n': name}).scalar() == 1

    def execute(self, sql):
        self.conn.exec_driver_sql(sql)

    def load(self, data):
        self.Base.metadata.drop_all(self.conn)
        self.Base.metadata.create_all(self.conn)
        # ORM unit of work for the items, Core executemany for the aggregate table
        self.session.add_all([
            self.Item(id=i, embedding=data.vector[i], half_embedding=data.halfvec[i],
                      sparse_embedding=SparseVector(data.sparsevec[i]),
                      binary_embedding=bit_text(data.bit[i]))
            for i in range(N)])
        self.session.commit()
        self.conn.execute(insert(self.Agg), [
            dict(id=i, embedding=data.agg[i], half_embedding=data.agg[i].astype(np.float16))
            for i in range(len(data.agg))])
        self.execute(f'ANALYZE {self.Item.__tablename__}')
        self.execute(f'ANALYZE {self.Agg.__tablename__}')

    def fetch_rows(self):
        out = []
        for item in self.session.scalars(select(self.Item)):
            out.append((item.id, from_result('vector', item.embedding),
                        from_result('halfvec', item.half_embedding),
                        from_result('sparsevec', item.sparse_embedding),
                        from_result('bit', item.binary_embedding)))
        self.session.expunge_all()
        return out

    def distance(self, kind, metric, q):
        if self.driver == 'pg8000' and metric == 'jaccard':
            pytest.skip(PG8000_JACCARD)
        col = getattr(self.Item, COLUMN[kind])
        return getattr(col, COMPARATOR[metric])(to_param(kind, q))

    def all_distances(self, kind, metric, q):
        rows = self.session.execute(select(self.Item.id, self.distance(kind, metric, q))).all()
        return [r[0] for r in rows], [r[1] for r in rows]

    def knn_stmt(self, kind, metric, q, k):
        d = self.distance(kind, metric, q)
        return select(self.Item.id, d.label('distance')).order_by(d).limit(k)

    def knn(self, kind, metric, q, k):
        rows = self.session.execute(self.knn_stmt(kind, metric, q, k)).all()
        return [r[0] for r in rows], [r[1] for r in rows]

    def explain_knn(self, kind, metric, q, k):
        with explain_of(self.engine) as plan:
            self.session.execute(self.knn_stmt(kind, metric, q, k)).all()
        return plan()

    def create_index(self, method, kind, metric, name):
        col = COLUMN[kind]
        kw = dict(postgresql_using=method, postgresql_ops={col: opclass(kind, metric)})
        if method == 'ivfflat':
            kw['postgresql_with'] = {'lists': LISTS}
        if method == 'hnsw':
            kw['postgresql_with'] = {'m': 16, 'ef_construction': 64}
        idx = Index(name, getattr(self.Item, col), **kw)
        self.indexes[name] = idx
        idx.create(self.conn)
        return LISTS

    def drop_index(self, name):
        self.execute(f'DROP INDEX IF EXISTS {name}')
        idx = self.indexes.pop(name, None)
        if idx is not None:
            self.Item.__table__.indexes.discard(idx)

    def aggregates(self, kind, table, empty):
        model = self.Agg if table == 'agg' else self.Item
        col = getattr(model, COLUMN[kind])
        stmt = select(avg(col), vsum(col))
        if empty:
            stmt = stmt.where(false())
        a, s = self.session.execute(stmt).one()
        return (None if a is None else from_result(kind, a),
                None if s is None else from_result(kind, s))


@contextmanager
def explain_of(engine):
    """EXPLAIN the next statement SQLAlchemy sends, with the very SQL and parameters it sends:
    run it on the same DBAPI cursor first, then let the statement itself run."""
    lines = []

    def hook(conn, cursor, statement, parameters, context, executemany):
        if not lines:
            cursor.execute('EXPLAIN (COSTS OFF) ' + statement, parameters)
            lines.extend(r[0] for r in cursor.fetchall())

    event.listen(engine, 'before_cursor_execute', hook)
    try:
        yield lambda: '\n'.join(lines)
    finally:
        event.remove(engine, 'before_cursor_execute', hook)


class TestSqlalchemyPsycopg3(ClientContract):
    @pytest.fixture(scope='class')
    @classmethod
    def client(cls, data):
        c = SqlalchemyClient('psycopg', 'sa3')
        c.load(data)
        yield c
        c.close()


class TestSqlalchemyPsycopg2(ClientContract):
    @pytest.fixture(scope='class')
    @classmethod
    def client(cls, data):
        c = SqlalchemyClient('psycopg2', 'sa2')
        c.load(data)
        yield c
        c.close()


class TestSqlalchemyPg8000(ClientContract):
    @pytest.fixture(scope='class')
    @classmethod
    def client(cls, data):
        c = SqlalchemyClient('pg8000', 'sa8')
        c.load(data)
        yield c
        c.close()


def test_reflection():
    """pgvector.sqlalchemy registers the types for reflection: a reflected table knows them."""
    from sqlalchemy import MetaData, Table
    engine = create_engine(url('psycopg'))
    try:
        Base, Item, _ = make_models('sarefl')
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            Base.metadata.create_all(conn)
            t = Table('sarefl_items', MetaData(), autoload_with=conn)
            assert isinstance(t.c.embedding.type, VECTOR)
            assert isinstance(t.c.half_embedding.type, HALFVEC)
            assert isinstance(t.c.sparse_embedding.type, SPARSEVEC)
            Base.metadata.drop_all(conn)
    finally:
        engine.dispose()


def test_literal_binds(data):
    """literal_processor: a statement compiled with literal values runs as such."""
    engine = create_engine(url('psycopg'))
    try:
        _, Item, _ = make_models('salit')
        q = data.vector[0]
        stmt = select(Item.embedding.l2_distance(q), Item.half_embedding.cosine_distance(
            HalfVector(data.halfvec[0])))
        sql = str(stmt.compile(engine, compile_kwargs={'literal_binds': True}))
        assert '[' in sql and '%(' not in sql
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE TEMP TABLE salit_items (id int, embedding vector({DIM}), '
                                 f'half_embedding halfvec({DIM}))')
            conn.exec_driver_sql(f"INSERT INTO salit_items VALUES (1, '{q.tolist()}', "
                                 f"'{data.halfvec[1].astype(float).tolist()}')")
            l2, cos = conn.exec_driver_sql(sql).one()
        assert l2 == 0.0
        a = data.halfvec[1].astype(np.float64)
        b = data.halfvec[0].astype(np.float64)
        np.testing.assert_allclose(cos, 1 - a @ b / np.linalg.norm(a) / np.linalg.norm(b),
                                   rtol=1e-5, atol=1e-6)
    finally:
        engine.dispose()


def test_asyncpg_dialect(data):
    """postgresql+asyncpg through AsyncSession: text-format values (no codec registered)."""
    async def run():
        engine = create_async_engine(url('asyncpg'))
        Base, Item, Agg = make_models('saa')
        try:
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.drop_all)
                await conn.run_sync(Base.metadata.create_all)
                await conn.execute(insert(Item), [
                    dict(id=i, embedding=data.vector[i], half_embedding=data.halfvec[i],
                         sparse_embedding=SparseVector(data.sparsevec[i]),
                         binary_embedding=bit_text(data.bit[i]))
                    for i in range(N)])
            async with engine.connect() as conn:
                rows = (await conn.execute(select(Item).order_by(Item.id))).all()
                np.testing.assert_array_equal(np.array([r.embedding for r in rows], np.float32),
                                              data.vector)
                np.testing.assert_array_equal(np.array([r.half_embedding for r in rows],
                                                       np.float16), data.halfvec)
                np.testing.assert_array_equal(np.stack([r.sparse_embedding.to_numpy() for r in rows]),
                                              data.sparsevec)
                np.testing.assert_array_equal(np.stack([bits_from_text(r.binary_embedding)
                                                        for r in rows]), data.bit)
                for kind in ('vector', 'halfvec', 'sparsevec', 'bit'):
                    metrics = ('hamming', 'jaccard') if kind == 'bit' else ('l2', 'ip', 'cosine', 'l1')
                    for metric in metrics:
                        q = data.queries[kind][0]
                        col = getattr(Item, COLUMN[kind])
                        d = getattr(col, COMPARATOR[metric])(to_param(kind, q))
                        res = (await conn.execute(select(Item.id, d).order_by(d).limit(10))).all()
                        check_knn([r[0] for r in res], [r[1] for r in res], data.rows(kind), q,
                                  metric)
                await conn.run_sync(lambda c: Base.metadata.drop_all(c))
                await conn.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_half_precision_index(data):
    """pgvector's README, SQLAlchemy section: index and query a vector column cast to
    halfvec (func.cast(..., HALFVEC(n))), here with ivfflat and flat."""
    from sqlalchemy import func
    c = SqlalchemyClient('psycopg', 'sahp')
    try:
        c.load(data)
        Item = c.Item
        expr = func.cast(Item.embedding, HALFVEC(DIM)).label('embedding')
        for method, extra in (('ivfflat', {'postgresql_with': {'lists': 8}}), ('flat', {})):
            idx = Index(f'sahp_{method}', expr, postgresql_using=method,
                        postgresql_ops={'embedding': 'halfvec_l2_ops'}, **extra)
            idx.create(c.conn)
            try:
                c.execute('SET enable_seqscan = off')
                c.execute('SET ivfflat.probes = 8')
                for q in data.queries['vector']:
                    d = func.cast(Item.embedding, HALFVEC(DIM)).l2_distance(q.astype(np.float16))
                    stmt = select(Item.id, d).order_by(d).limit(10)
                    with explain_of(c.engine) as plan:
                        rows = c.session.execute(stmt).all()
                    assert f'Index Scan using sahp_{method}' in plan(), plan()
                    check_knn([r[0] for r in rows], [r[1] for r in rows],
                              data.vector.astype(np.float16), q.astype(np.float16), 'l2')
            finally:
                c.execute('RESET enable_seqscan')
                c.execute('RESET ivfflat.probes')
                idx.drop(c.conn)
                Item.__table__.indexes.discard(idx)
    finally:
        c.close()


@pytest.mark.parametrize('driver', ['psycopg', 'psycopg2'])
def test_array_columns(driver, data):
    """ARRAY(VECTOR(n)) columns, with the driver's types registered on connect as pgvector's
    README says."""
    from sqlalchemy.dialects.postgresql import ARRAY
    engine = create_engine(url(driver))
    if driver == 'psycopg':
        from pgvector.psycopg import register_vector as reg
    else:
        from pgvector.psycopg2 import register_vector as reg

    @event.listens_for(engine, 'connect')
    def connect(dbapi_connection, connection_record):
        reg(dbapi_connection)

    class Base(DeclarativeBase):
        pass

    class ArrItem(Base):
        __tablename__ = f'sa_arr_{driver}'
        id = mapped_column(Integer, primary_key=True, autoincrement=False)
        embeddings = mapped_column(ARRAY(VECTOR(DIM)))
        half_embeddings = mapped_column(ARRAY(HALFVEC(DIM)))

    try:
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            Base.metadata.create_all(conn)
        with Session(engine) as s:
            s.add_all([ArrItem(id=i, embeddings=[data.vector[2 * i], data.vector[2 * i + 1]],
                               half_embeddings=[data.halfvec[i]]) for i in range(20)])
            s.commit()
            items = s.scalars(select(ArrItem).order_by(ArrItem.id)).all()
            for it in items:
                got = np.array([np.asarray(v.to_numpy() if hasattr(v, 'to_numpy') else v,
                                           dtype=np.float32) for v in it.embeddings])
                np.testing.assert_array_equal(got, data.vector[2 * it.id:2 * it.id + 2])
                h = it.half_embeddings[0]
                np.testing.assert_array_equal(
                    np.asarray(h.to_numpy() if hasattr(h, 'to_numpy') else h, dtype=np.float16),
                    data.halfvec[it.id])
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
    finally:
        engine.dispose()
