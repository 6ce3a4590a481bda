"""Django's ORM (psycopg 3 backend) with pgvector.django: VectorField, HalfVectorField,
SparseVectorField, BitField; IvfflatIndex, HnswIndex (and flat through PostgresIndex); the
distance expressions L2Distance, MaxInnerProduct, CosineDistance, L1Distance, HammingDistance,
JaccardDistance; Avg and Sum; the VectorExtension migration operation."""
import django
import numpy as np
import pytest
from django.conf import settings

from reference import (BITS, COLUMN, DIM, LISTS, N, SPARSE_DIM, bit_text, bits_from_text,
                       check_knn, env, opclass, require_hnsw)

_e = env()
settings.configure(
    DATABASES={'default': {'ENGINE': 'django.db.backends.postgresql', 'NAME': _e['dbname'],
                           'USER': _e['user'], 'HOST': _e['host'], 'PORT': _e['port']}},
    INSTALLED_APPS=['django.contrib.postgres'],
    DEFAULT_AUTO_FIELD='django.db.models.BigAutoField',
    USE_TZ=True,
)
django.setup()

from django.contrib.postgres.indexes import PostgresIndex  # noqa: E402
from django.db import connection, models  # noqa: E402
from django.db.models import Avg, Sum  # noqa: E402
from pgvector import HalfVector, SparseVector  # noqa: E402
from pgvector.django import (BitField, CosineDistance, HalfVectorField, HammingDistance,  # noqa: E402
                             HnswIndex, IvfflatIndex, JaccardDistance, L1Distance, L2Distance,
                             MaxInnerProduct, SparseVectorField, VectorExtension, VectorField)

from contract import ClientContract  # noqa: E402

DISTANCE = {'l2': L2Distance, 'ip': MaxInnerProduct, 'cosine': CosineDistance,
            'l1': L1Distance, 'hamming': HammingDistance, 'jaccard': JaccardDistance}


class Item(models.Model):
    id = models.IntegerField(primary_key=True)
    embedding = VectorField(dimensions=DIM)
    half_embedding = HalfVectorField(dimensions=DIM)
    sparse_embedding = SparseVectorField(dimensions=SPARSE_DIM)
    binary_embedding = BitField(length=BITS)

    class Meta:
        app_label = 'clients'
        db_table = 'dj_items'


class Agg(models.Model):
    id = models.IntegerField(primary_key=True)
    embedding = VectorField(dimensions=DIM)
    half_embedding = HalfVectorField(dimensions=DIM)

    class Meta:
        app_label = 'clients'
        db_table = 'dj_agg'


class FlatIndex(PostgresIndex):
    """vector_ext's flat method through Django's generic PostgresIndex (USING <suffix>)."""
    suffix = 'flat'


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


class DjangoClient:
    prefix = 'dj'

    def __init__(self):
        self.indexes = {}

    def close(self):
        connection.close()

    def has_access_method(self, name):
        with connection.cursor() as cur:
            cur.execute('SELECT count(*) FROM pg_am WHERE amname = %s', [name])
            return cur.fetchone()[0] == 1

    def execute(self, sql):
        with connection.cursor() as cur:
            cur.execute(sql)

    def load(self, data):
        with connection.cursor() as cur:
            cur.execute('DROP TABLE IF EXISTS dj_items, dj_agg')
        with connection.schema_editor() as se:
            se.create_model(Item)
            se.create_model(Agg)
        Item.objects.bulk_create([
            Item(id=i, embedding=data.vector[i], half_embedding=data.halfvec[i],
                 sparse_embedding=SparseVector(data.sparsevec[i]),
                 binary_embedding=bit_text(data.bit[i]))
            for i in range(N)], batch_size=500)
        Agg.objects.bulk_create([
            Agg(id=i, embedding=data.agg[i], half_embedding=data.agg[i].astype(np.float16))
            for i in range(len(data.agg))])
        self.execute('ANALYZE dj_items')
        self.execute('ANALYZE dj_agg')

    def fetch_rows(self):
        return [(it.id, from_field('vector', it.embedding), from_field('halfvec', it.half_embedding),
                 from_field('sparsevec', it.sparse_embedding),
                 from_field('bit', it.binary_embedding))
                for it in Item.objects.all()]

    def distance(self, kind, metric, q):
        return DISTANCE[metric](COLUMN[kind], to_param(kind, q))

    def all_distances(self, kind, metric, q):
        rows = list(Item.objects.annotate(distance=self.distance(kind, metric, q))
                    .values_list('id', 'distance'))
        return [r[0] for r in rows], [r[1] for r in rows]

    def knn_qs(self, kind, metric, q, k):
        return (Item.objects.annotate(distance=self.distance(kind, metric, q))
                .order_by('distance').values_list('id', 'distance')[:k])

    def knn(self, kind, metric, q, k):
        rows = list(self.knn_qs(kind, metric, q, k))
        return [r[0] for r in rows], [r[1] for r in rows]

    def explain_knn(self, kind, metric, q, k):
        return self.knn_qs(kind, metric, q, k).explain()

    def create_index(self, method, kind, metric, name):
        kw = dict(name=name, fields=[COLUMN[kind]], opclasses=[opclass(kind, metric)])
        if method == 'ivfflat':
            idx = IvfflatIndex(lists=LISTS, **kw)
        elif method == 'hnsw':
            idx = HnswIndex(m=16, ef_construction=64, **kw)
        else:
            idx = FlatIndex(**kw)
        self.indexes[name] = idx
        with connection.schema_editor() as se:
            se.add_index(Item, idx)
        return LISTS

    def drop_index(self, name):
        idx = self.indexes.pop(name, None)
        self.execute(f'DROP INDEX IF EXISTS {name}')
        return idx

    def aggregates(self, kind, table, empty):
        model = Agg if table == 'agg' else Item
        qs = model.objects.filter(id__lt=0) if empty else model.objects.all()
        col = COLUMN[kind]
        r = qs.aggregate(avg=Avg(col), sum=Sum(col))
        return (None if r['avg'] is None else from_field(kind, r['avg']),
                None if r['sum'] is None else from_field(kind, r['sum']))


class TestDjango(ClientContract):
    @pytest.fixture(scope='class')
    @classmethod
    def client(cls, data):
        c = DjangoClient()
        c.load(data)
        yield c
        c.close()

    def test_order_by_expression(self, client, data):
        """order_by(L2Distance(...)) without an annotation, model instances back; a filtered
        nearest-neighbour query."""
        q = data.vector[3]
        items = list(Item.objects.order_by(L2Distance('embedding', q))[:2])
        assert sorted(it.id for it in items) == [3, N - 10 + 3]     # the row and its duplicate
        for it in items:
            np.testing.assert_array_equal(np.array(it.embedding, np.float32), q)
        rows = list(Item.objects.filter(id__gte=1000)
                    .annotate(d=CosineDistance('embedding', q)).order_by('d')
                    .values_list('id', 'd')[:5])
        check_knn([r[0] - 1000 for r in rows], [r[1] for r in rows], data.vector[1000:], q,
                  'cosine', k=5)

    def test_index_meta_and_hnsw(self, client, data):
        """Indexes declared the way a Django model does (Meta.indexes, through the schema
        editor's create_model), including HnswIndex."""
        require_hnsw(client.has_access_method('hnsw'))

        class HnswItem(models.Model):
            embedding = VectorField(dimensions=DIM)

            class Meta:
                app_label = 'clients'
                db_table = 'dj_hnsw_items'
                indexes = [HnswIndex(name='dj_hnsw_meta', fields=['embedding'], m=16,
                                     ef_construction=64, opclasses=['vector_l2_ops'])]

        with connection.schema_editor() as se:
            se.create_model(HnswItem)
        try:
            HnswItem.objects.bulk_create([HnswItem(embedding=v) for v in data.vector])
            client.execute('SET enable_seqscan = off')
            q = data.queries['vector'][0]
            qs = HnswItem.objects.order_by(L2Distance('embedding', q))[:10]
            assert 'Index Scan using dj_hnsw_meta' in qs.explain()
        finally:
            client.execute('RESET enable_seqscan')
            with connection.schema_editor() as se:
                se.delete_model(HnswItem)

    def test_ivfflat_meta(self, client, data):
        """IvfflatIndex in Meta.indexes, created with the table by the schema editor."""
        class IvfItem(models.Model):
            embedding = VectorField(dimensions=DIM)
            half_embedding = HalfVectorField(dimensions=DIM)

            class Meta:
                app_label = 'clients'
                db_table = 'dj_ivf_items'
                indexes = [
                    IvfflatIndex(name='dj_ivf_meta_v', fields=['embedding'], lists=8,
                                 opclasses=['vector_cosine_ops']),
                    IvfflatIndex(name='dj_ivf_meta_h', fields=['half_embedding'], lists=8,
                                 opclasses=['halfvec_ip_ops']),
                ]

        with connection.cursor() as cur:
            cur.execute('DROP TABLE IF EXISTS dj_ivf_items')
        with connection.schema_editor() as se:
            se.create_model(IvfItem)        # empty table: lists laid out by the inserts
        try:
            IvfItem.objects.bulk_create([IvfItem(id=i + 1, embedding=data.vector[i],
                                                 half_embedding=data.halfvec[i])
                                         for i in range(N)])
            client.execute('SET enable_seqscan = off')
            client.execute('SET ivfflat.probes = 8')
            for q, qh in zip(data.queries['vector'], data.queries['halfvec']):
                qs = (IvfItem.objects.annotate(d=CosineDistance('embedding', q))
                      .order_by('d').values_list('id', 'd')[:10])
                assert 'Index Scan using dj_ivf_meta_v' in qs.explain()
                rows = list(qs)
                check_knn([r[0] - 1 for r in rows], [r[1] for r in rows], data.vector, q, 'cosine')
                qs = (IvfItem.objects.annotate(d=MaxInnerProduct('half_embedding', HalfVector(qh)))
                      .order_by('d').values_list('id', 'd')[:10])
                assert 'Index Scan using dj_ivf_meta_h' in qs.explain()
                rows = list(qs)
                check_knn([r[0] - 1 for r in rows], [r[1] for r in rows], data.halfvec, qh, 'ip')
        finally:
            client.execute('RESET enable_seqscan')
            client.execute('RESET ivfflat.probes')
            with connection.schema_editor() as se:
                se.delete_model(IvfItem)

    def test_half_precision_index(self, client, data):
        """pgvector's README, Django section: OpClass(Cast('embedding', HalfVectorField(n)))
        in an index, queried with L2Distance(Cast(...), q); ivfflat and flat."""
        from django.contrib.postgres.indexes import OpClass
        from django.db.models.functions import Cast
        for method in ('ivfflat', 'flat'):
            expr = OpClass(Cast('embedding', HalfVectorField(dimensions=DIM)), name='halfvec_l2_ops')
            idx = (IvfflatIndex(expr, name='dj_hp_ivfflat', lists=8) if method == 'ivfflat'
                   else FlatIndex(expr, name='dj_hp_flat'))
            with connection.schema_editor() as se:
                se.add_index(Item, idx)
            try:
                client.execute('SET enable_seqscan = off')
                client.execute('SET ivfflat.probes = 8')
                for q in data.queries['vector']:
                    qs = (Item.objects.annotate(
                        d=L2Distance(Cast('embedding', HalfVectorField(dimensions=DIM)), q))
                        .order_by('d').values_list('id', 'd')[:10])
                    assert f'Index Scan using dj_hp_{method}' in qs.explain()
                    rows = list(qs)
                    check_knn([r[0] for r in rows], [r[1] for r in rows],
                              data.vector.astype(np.float16), q.astype(np.float16), 'l2')
            finally:
                client.execute('RESET enable_seqscan')
                client.execute('RESET ivfflat.probes')
                with connection.schema_editor() as se:
                    se.remove_index(Item, idx)

    def test_equality_and_distinct(self, client, data):
        """filter(embedding=...) and distinct() use the btree opclasses."""
        ids = sorted(Item.objects.filter(embedding=data.vector[4]).values_list('id', flat=True))
        assert ids == [4, N - 10 + 4]
        ids = sorted(Item.objects.filter(half_embedding=HalfVector(data.halfvec[6]))
                     .values_list('id', flat=True))
        assert ids == [6, N - 10 + 6]
        assert Item.objects.values('embedding').distinct().count() == N - 10

    def test_vector_extension_operation(self, client):
        """The VectorExtension migration operation (CREATE EXTENSION IF NOT EXISTS vector)."""
        if env()['extension'] != 'vector':
            pytest.skip('pgvector owns the extension name vector on this machine')
        op = VectorExtension()
        with connection.schema_editor() as se:
            op.database_forwards('clients', se, None, None)
        with connection.cursor() as cur:
            cur.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'")
            assert cur.fetchone() == ('vector',)

    def test_field_serialization(self, client, data):
        """value_to_string / to_python of the fields (used by dumpdata and forms)."""
        it = Item.objects.get(id=7)
        f = Item._meta.get_field
        v = f('embedding').value_to_string(it)
        np.testing.assert_array_equal(np.array(f('embedding').to_python(v), np.float32),
                                      data.vector[7])
        h = f('half_embedding').value_to_string(it)
        np.testing.assert_array_equal(np.array(f('half_embedding').to_python(h), np.float16),
                                      data.halfvec[7])
        s = f('sparse_embedding').value_to_string(it)
        np.testing.assert_array_equal(f('sparse_embedding').to_python(s).to_numpy(),
                                      data.sparsevec[7])

