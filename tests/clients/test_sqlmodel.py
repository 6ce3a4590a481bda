"""SQLModel (pydantic models over SQLAlchemy) with pgvector.sqlalchemy column types:
Field(sa_type=VECTOR(n)) etc., queried through sqlmodel's select and Session.exec, over
psycopg 3."""
from typing import Any, Optional

import numpy as np
import pytest
from pgvector import SparseVector
from pgvector.sqlalchemy import BIT, HALFVEC, SPARSEVEC, VECTOR, avg, sum as vsum
from sqlalchemy import Index, text
from sqlmodel import Field, Session, SQLModel, create_engine, select

from contract import ClientContract
from reference import (BITS, COLUMN, DIM, LISTS, N, SPARSE_DIM, bit_text, env, opclass)
from test_sqlalchemy import COMPARATOR, explain_of, from_result, to_param


class SmItem(SQLModel, table=True):
    __tablename__ = 'sm_items'
    id: Optional[int] = Field(default=None, primary_key=True, sa_column_kwargs={'autoincrement': False})
    embedding: Any = Field(sa_type=VECTOR(DIM))
    half_embedding: Any = Field(sa_type=HALFVEC(DIM))
    sparse_embedding: Any = Field(sa_type=SPARSEVEC(SPARSE_DIM))
    binary_embedding: str = Field(sa_type=BIT(BITS))


class SmAgg(SQLModel, table=True):
    __tablename__ = 'sm_agg'
    id: Optional[int] = Field(default=None, primary_key=True, sa_column_kwargs={'autoincrement': False})
    embedding: Any = Field(sa_type=VECTOR(DIM))
    half_embedding: Any = Field(sa_type=HALFVEC(DIM))


class SqlmodelClient:
    prefix = 'sm'

    def __init__(self):
        e = env()
        self.engine = create_engine(
            f'postgresql+psycopg://{e["user"]}@{e["host"]}:{e["port"]}/{e["dbname"]}')
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
        tables = [SmItem.__table__, SmAgg.__table__]
        SQLModel.metadata.drop_all(self.conn, tables=tables)
        SQLModel.metadata.create_all(self.conn, tables=tables)
        for i in range(N):
            self.session.add(SmItem(id=i, embedding=data.vector[i], half_embedding=data.halfvec[i],
                                    sparse_embedding=SparseVector(data.sparsevec[i]),
                                    binary_embedding=bit_text(data.bit[i])))
        for i in range(len(data.agg)):
            self.session.add(SmAgg(id=i, embedding=data.agg[i],
                                   half_embedding=data.agg[i].astype(np.float16)))
        self.session.commit()
        self.execute('ANALYZE sm_items')
        self.execute('ANALYZE sm_agg')

    def fetch_rows(self):
        out = [(it.id, from_result('vector', it.embedding), from_result('halfvec', it.half_embedding),
                from_result('sparsevec', it.sparse_embedding), from_result('bit', it.binary_embedding))
               for it in self.session.exec(select(SmItem))]
        self.session.expunge_all()
        return out

    def distance(self, kind, metric, q):
        return getattr(getattr(SmItem, COLUMN[kind]), COMPARATOR[metric])(to_param(kind, q))

    def all_distances(self, kind, metric, q):
        rows = self.session.exec(select(SmItem.id, self.distance(kind, metric, q))).all()
        return [r[0] for r in rows], [r[1] for r in rows]

    def knn_stmt(self, kind, metric, q, k):
        d = self.distance(kind, metric, q)
        return select(SmItem.id, d).order_by(d).limit(k)

    def knn(self, kind, metric, q, k):
        rows = self.session.exec(self.knn_stmt(kind, metric, q, k)).all()
        return [r[0] for r in rows], [r[1] for r in rows]

    def explain_knn(self, kind, metric, q, k):
        with explain_of(self.engine) as plan:
            self.session.exec(self.knn_stmt(kind, metric, q, k)).all()
        return plan()

    def create_index(self, method, kind, metric, name):
        col = COLUMN[kind]
        kw = dict(postgresql_using=method, postgresql_ops={col: opclass(kind, metric)})
        if method == 'ivfflat':
            kw['postgresql_with'] = {'lists': LISTS}
        idx = Index(name, getattr(SmItem, col), **kw)
        self.indexes[name] = idx
        idx.create(self.conn)
        return LISTS

    def drop_index(self, name):
        self.execute(f'DROP INDEX IF EXISTS {name}')
        idx = self.indexes.pop(name, None)
        if idx is not None:
            SmItem.__table__.indexes.discard(idx)

    def aggregates(self, kind, table, empty):
        model = SmAgg if table == 'agg' else SmItem
        col = getattr(model, COLUMN[kind])
        stmt = select(avg(col), vsum(col))
        if empty:
            stmt = stmt.where(text('false'))
        a, s = self.session.exec(stmt).one()
        return (None if a is None else from_result(kind, a),
                None if s is None else from_result(kind, s))


class TestSqlmodel(ClientContract):
    @pytest.fixture(scope='class')
    @classmethod
    def client(cls, data):
        c = SqlmodelClient()
        c.load(data)
        yield c
        c.close()

    def test_model_objects(self, client, data):
        """Whole model objects back from a nearest-neighbour select."""
        q = data.vector[3]
        items = client.session.exec(
            select(SmItem).order_by(SmItem.embedding.l2_distance(q)).limit(2)).all()
        assert sorted(it.id for it in items) == [3, N - 10 + 3]   # the row and its duplicate
        for it in items:
            np.testing.assert_array_equal(np.array(it.embedding, np.float32), q)
        client.session.expunge_all()
