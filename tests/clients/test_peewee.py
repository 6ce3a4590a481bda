"""peewee (PostgresqlDatabase over psycopg2) with pgvector.peewee: VectorField,
HalfVectorField, SparseVectorField, FixedBitField and their distance methods; fn.avg/fn.sum;
indexes through peewee's Index (USING method, opclass in the expression). peewee has no
WITH (...) clause, so its ivfflat index has pgvector's default of 100 lists."""
import numpy as np
import pytest
from peewee import SQL, Index, IntegerField, Model, PostgresqlDatabase, fn
from pgvector import HalfVector, SparseVector
from pgvector.peewee import FixedBitField, HalfVectorField, SparseVectorField, VectorField

from contract import ClientContract
from reference import (BITS, COLUMN, DIM, N, SPARSE_DIM, bit_text, bits_from_text, check_knn,
                       env, opclass)

_e = env()
db = PostgresqlDatabase(_e['dbname'], host=_e['host'], port=_e['port'], user=_e['user'],
                        autoconnect=True)

METHOD = {'l2': 'l2_distance', 'ip': 'max_inner_product', 'cosine': 'cosine_distance',
          'l1': 'l1_distance', 'hamming': 'hamming_distance', 'jaccard': 'jaccard_distance'}
DEFAULT_LISTS = 100     # pgvector's (and vector_ext's) default for ivfflat


class BaseModel(Model):
    class Meta:
        database = db


class Item(BaseModel):
    id = IntegerField(primary_key=True)
    embedding = VectorField(dimensions=DIM)
    half_embedding = HalfVectorField(dimensions=DIM)
    sparse_embedding = SparseVectorField(dimensions=SPARSE_DIM)
    binary_embedding = FixedBitField(max_length=BITS)

    class Meta:
        table_name = 'pw_items'


class Agg(BaseModel):
    id = IntegerField(primary_key=True)
    embedding = VectorField(dimensions=DIM)
    half_embedding = HalfVectorField(dimensions=DIM)

    class Meta:
        table_name = 'pw_agg'


def to_param(kind, q):
    if kind == 'vector':
        return np.asarray(q, dtype=np.float32)
    if kind == 'halfvec':
        return HalfVector(np.asarray(q, dtype=np.float16))
    if kind == 'sparsevec':
        return SparseVector(np.asarray(q, dtype=np.float32))
    return bit_text(q)


def from_field(kind, v):
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


class PeeweeClient:
    prefix = 'pw'

    def close(self):
        db.close()

    def has_access_method(self, name):
        return db.execute_sql('SELECT count(*) FROM pg_am WHERE amname = %s', (name,)).fetchone()[0] == 1

    def execute(self, sql):
        db.execute_sql(sql)

    def load(self, data):
        db.drop_tables([Item, Agg])
        db.create_tables([Item, Agg])
        with db.atomic():
            Item.insert_many([
                dict(id=i, embedding=data.vector[i], half_embedding=data.halfvec[i],
                     sparse_embedding=SparseVector(data.sparsevec[i]),
                     binary_embedding=bit_text(data.bit[i]))
                for i in range(N)]).execute()
            Agg.insert_many([
                dict(id=i, embedding=data.agg[i], half_embedding=data.agg[i].astype(np.float16))
                for i in range(len(data.agg))]).execute()
        self.execute('ANALYZE pw_items')
        self.execute('ANALYZE pw_agg')

    def fetch_rows(self):
        return [(it.id, from_field('vector', it.embedding), from_field('halfvec', it.half_embedding),
                 from_field('sparsevec', it.sparse_embedding),
                 from_field('bit', it.binary_embedding))
                for it in Item.select()]

    def distance(self, kind, metric, q):
        return getattr(getattr(Item, COLUMN[kind]), METHOD[metric])(to_param(kind, q))

    def all_distances(self, kind, metric, q):
        rows = list(Item.select(Item.id, self.distance(kind, metric, q).alias('distance')).tuples())
        return [r[0] for r in rows], [r[1] for r in rows]

    def knn_query(self, kind, metric, q, k):
        d = self.distance(kind, metric, q)
        return Item.select(Item.id, d.alias('distance')).order_by(d).limit(k)

    def knn(self, kind, metric, q, k):
        rows = list(self.knn_query(kind, metric, q, k).tuples())
        return [r[0] for r in rows], [r[1] for r in rows]

    def explain_knn(self, kind, metric, q, k):
        sql, params = self.knn_query(kind, metric, q, k).sql()
        return '\n'.join(r[0] for r in db.execute_sql('EXPLAIN (COSTS OFF) ' + sql, params))

    def create_index(self, method, kind, metric, name):
        idx = Index(name, Item._meta.table, [SQL(f'{COLUMN[kind]} {opclass(kind, metric)}')],
                    using=method)
        db.execute(idx)
        return DEFAULT_LISTS

    def drop_index(self, name):
        self.execute(f'DROP INDEX IF EXISTS {name}')

    def aggregates(self, kind, table, empty):
        model = Agg if table == 'agg' else Item
        field = getattr(model, COLUMN[kind])
        # coerce(True): the result goes through the column's field converter (pgvector's README)
        q = model.select(fn.avg(field).coerce(True), fn.sum(field).coerce(True))
        if empty:
            q = q.where(SQL('false'))
        a, s = q.tuples().get()
        return (None if a is None else from_field(kind, a),
                None if s is None else from_field(kind, s))


class TestPeewee(ClientContract):
    @pytest.fixture(scope='class')
    @classmethod
    def client(cls, data):
        c = PeeweeClient()
        c.load(data)
        yield c
        c.close()

    def test_model_index(self, client, data):
        """Model.add_index as pgvector's README shows it, created by create_tables' index pass."""
        class IdxItem(BaseModel):
            embedding = VectorField(dimensions=DIM)

            class Meta:
                table_name = 'pw_idx_items'

        IdxItem.add_index('embedding vector_l1_ops', using='flat')
        db.drop_tables([IdxItem])
        db.create_tables([IdxItem])
        try:
            IdxItem.insert_many([{'embedding': v} for v in data.vector]).execute()
            names = [r[0] for r in db.execute_sql(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'pw_idx_items' "
                "AND indexdef LIKE '%%USING flat%%'")]
            assert len(names) == 1, names
            db.execute_sql('SET enable_seqscan = off')
            q = data.queries['vector'][2]
            d = IdxItem.embedding.l1_distance(q)
            query = IdxItem.select(IdxItem.id, d.alias('d')).order_by(d).limit(10)
            sql, params = query.sql()
            plan = '\n'.join(r[0] for r in db.execute_sql('EXPLAIN ' + sql, params))
            assert f'Index Scan using {names[0]}' in plan, plan
            rows = list(query.tuples())
            check_knn([r[0] - 1 for r in rows], [r[1] for r in rows], data.vector, q, 'l1')
        finally:
            db.execute_sql('RESET enable_seqscan')
            db.drop_tables([IdxItem])

