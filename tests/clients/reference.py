"""numpy references for the client-library tests, and the checks that compare server results
with them. Imported by conftest.py and by contract.py (the tests every client runs)."""
import os

import numpy as np
import pytest

# ------------------------------------------------------------------------------------ sizes
N = 4000          # rows of the neighbour table
DIM = 64          # vector / halfvec dimension (items: ~130 pages of vectors per index)
SPARSE_DIM = 30   # sparsevec dimension
BITS = 60         # bit(n) length (not a multiple of 8: exercises padding)
NA = 200          # rows of the aggregate table
K = 10            # neighbours asked for
LISTS = 16        # ivfflat lists (where the client can say WITH (lists = ...))
SEED = 20240607

# Floats: the server computes in float32 (accumulated in whatever order its kernels use), the
# reference in float64 from the same float32/float16 inputs.
FLOAT_TOL = dict(rtol=1e-5, atol=1e-5)

KINDS = ('vector', 'halfvec', 'sparsevec', 'bit')
COLUMN = {
    'vector': 'embedding',
    'halfvec': 'half_embedding',
    'sparsevec': 'sparse_embedding',
    'bit': 'binary_embedding',
}
OPERATOR = {'l2': '<->', 'ip': '<#>', 'cosine': '<=>', 'l1': '<+>',
            'hamming': '<~>', 'jaccard': '<%>'}
METRICS = {
    'vector': ('l2', 'ip', 'cosine', 'l1'),
    'halfvec': ('l2', 'ip', 'cosine', 'l1'),
    'sparsevec': ('l2', 'ip', 'cosine', 'l1'),
    'bit': ('hamming', 'jaccard'),
}


def opclass(kind, metric):
    return f'{kind}_{metric}_ops'


HNSW_REASON = 'the server has no hnsw access method'


def require_hnsw(has_hnsw, kind=None):
    """Skip (visibly) when the server has no hnsw access method."""
    if not has_hnsw:
        pytest.skip(HNSW_REASON)


def distance_cases():
    return [pytest.param(kind, metric, id=f'{kind}-{metric}')
            for kind in KINDS for metric in METRICS[kind]]


def index_cases():
    """(method, kind, metric) for every index pgvector's clients can ask for (ivfflat, hnsw),
    and the same through vector_ext's flat (vector, halfvec, bit_hamming_ops)."""
    cases = []
    for method in ('flat', 'ivfflat'):
        for kind in ('vector', 'halfvec'):
            for metric in METRICS[kind]:
                cases.append(pytest.param(method, kind, metric, id=f'{method}-{kind}-{metric}'))
    cases.append(pytest.param('flat', 'bit', 'hamming', id='flat-bit-hamming'))
    cases.append(pytest.param('ivfflat', 'bit', 'hamming', id='ivfflat-bit-hamming'))
    for kind in KINDS:
        for metric in METRICS[kind]:
            cases.append(pytest.param('hnsw', kind, metric, id=f'hnsw-{kind}-{metric}'))
    return cases


# ------------------------------------------------------------------------------------- data
class Data:
    """Every value the tests insert, made from one fixed seed."""

    def __init__(self, seed=SEED):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((N, DIM)).astype(np.float32)
        x[N - 10:] = x[:10]                      # exact duplicates: ties at distance 0
        self.vector = x
        self.halfvec = x.astype(np.float16)
        s = np.zeros((N, SPARSE_DIM), dtype=np.float32)
        for i in range(N):
            nnz = rng.integers(1, 7)
            idx = rng.choice(SPARSE_DIM, size=nnz, replace=False)
            s[i, idx] = rng.standard_normal(nnz).astype(np.float32)
        s[N - 10:] = s[:10]
        self.sparsevec = s
        b = rng.random((N, BITS)) < 0.4
        b[N - 10:] = b[:10]
        b[5] = False                             # an all-zero bit string (jaccard: 1)
        self.bit = b
        # queries: one fresh, one equal to a stored row (it and its duplicate tie at 0), one
        # between two rows
        qv = rng.standard_normal((3, DIM)).astype(np.float32)
        qv[1] = x[3]
        qv[2] = (x[7] + x[8]) / 2
        self.queries = {
            'vector': list(qv),
            'halfvec': list(qv.astype(np.float16)),
            'sparsevec': [
                self._sparse_query(rng),
                s[3].copy(),
                self._sparse_query(rng),
            ],
            'bit': [rng.random(BITS) < 0.4, b[3].copy(), rng.random(BITS) < 0.6],
        }
        # aggregates: multiples of 1/4 in [-2, 2], so every partial sum of NA rows is exact in
        # float32 and float16 alike (|sum| <= 400 < 512, where float16 still has 1/4 steps)
        a = (rng.integers(-8, 9, size=(NA, DIM)) / 4).astype(np.float32)
        self.agg = a

    @staticmethod
    def _sparse_query(rng):
        q = np.zeros(SPARSE_DIM, dtype=np.float32)
        idx = rng.choice(SPARSE_DIM, size=8, replace=False)
        q[idx] = rng.standard_normal(8).astype(np.float32)
        return q

    def rows(self, kind):
        return getattr(self, kind)


def bit_text(bits):
    return ''.join('1' if b else '0' for b in bits)


def bits_from_text(text):
    return np.array([c == '1' for c in text], dtype=bool)


# ------------------------------------------------------------------------------- distances
def distances(rows, q, metric):
    """float64 distances from every row to q, as pgvector defines them."""
    if metric in ('hamming', 'jaccard'):
        rows = np.asarray(rows, dtype=bool)
        q = np.asarray(q, dtype=bool)
        if metric == 'hamming':
            return (rows != q).sum(axis=1).astype(np.float64)
        inter = (rows & q).sum(axis=1).astype(np.float64)
        union = (rows | q).sum(axis=1).astype(np.float64)
        with np.errstate(invalid='ignore', divide='ignore'):
            d = 1.0 - inter / union
        return np.where(inter == 0, 1.0, d)      # pgvector: no common bit -> 1
    x = np.asarray(rows, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if metric == 'l2':
        return np.sqrt(((x - q) ** 2).sum(axis=1))
    if metric == 'ip':
        return -(x @ q)
    if metric == 'cosine':
        sim = (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))
        return 1.0 - np.clip(sim, -1.0, 1.0)
    if metric == 'l1':
        return np.abs(x - q).sum(axis=1)
    raise ValueError(metric)


def tolerance(metric):
    if metric == 'hamming':
        return dict(rtol=0, atol=0)              # integer counts: exact
    if metric == 'jaccard':
        return dict(rtol=1e-12, atol=0)          # a ratio of integer counts in float8
    return FLOAT_TOL


def check_all_distances(ids, dists, rows, q, metric):
    """Server distances from q to every row (ids = row indices) against numpy."""
    ids = np.asarray(ids, dtype=np.int64)
    assert sorted(ids.tolist()) == list(range(len(rows))), 'not every row came back'
    ref = distances(rows, q, metric)
    np.testing.assert_allclose(np.asarray(dists, dtype=np.float64), ref[ids], **tolerance(metric))


def check_knn(ids, dists, rows, q, metric, k=K, exact=True):
    """A nearest-neighbour answer (ids, distances in the order returned) against brute force.

    Ties are handled by comparing distances, not ids, at the cut: every returned row must carry
    its own distance, the rows must come back in distance order, and (exact) the returned
    distances must be the k smallest distances of the whole table."""
    ids = np.asarray(ids, dtype=np.int64)
    dists = np.asarray(dists, dtype=np.float64)
    tol = tolerance(metric)
    ref = distances(rows, q, metric)
    assert len(set(ids.tolist())) == len(ids), f'duplicate rows in {ids}'
    np.testing.assert_allclose(dists, ref[ids], **tol,
                               err_msg='a returned distance is not that row\'s distance')
    slack = tol['atol'] + tol['rtol'] * np.abs(dists[1:])
    assert np.all(np.diff(dists) >= -slack), f'rows not in distance order: {dists}'
    if exact:
        assert len(ids) == min(k, len(rows)), f'{len(ids)} rows, expected {k}'
        np.testing.assert_allclose(dists, np.sort(ref)[:k], **tol,
                                   err_msg='not the k nearest rows')
    else:
        assert 1 <= len(ids) <= k


def recall(ids, rows, q, metric, k=K):
    """Share of the returned rows that are within the true k-th distance (ties count)."""
    ref = distances(rows, q, metric)
    kth = np.sort(ref)[k - 1]
    tol = tolerance(metric)
    return float(np.sum(ref[np.asarray(ids, dtype=np.int64)] <= kth + tol['atol'] + tol['rtol'] * abs(kth))) / k


def dense_sparse(dim, indices, values):
    out = np.zeros(dim, dtype=np.float32)
    out[np.asarray(indices, dtype=np.int64)] = values
    return out


def env():
    return dict(
        host=os.environ.get('PGHOST', '127.0.0.1'),
        port=int(os.environ.get('PGPORT', '5631')),
        user=os.environ.get('PGUSER', 'postgres'),
        dbname=os.environ.get('PGDATABASE', 'vector_ext_clients'),
        extension=os.environ.get('VECTOR_EXT_CLIENTS_EXTENSION', 'vector'),
    )
