"""The contract's adapter for drivers that take SQL text (psycopg 3, psycopg2, asyncpg, pg8000):
the SQL is the same, the placeholders, parameter objects and loading differ."""
import numpy as np

from reference import BITS, COLUMN, DIM, OPERATOR, SPARSE_DIM, LISTS, opclass


class RawSqlClient:
    prefix = 'raw'
    pyformat = False    # placeholders are %s-style: a literal % in SQL is written %%

    # --- what a driver provides
    def query(self, sql, params=()):
        """Rows of a statement whose placeholders are made by ph(i), 1-based."""
        raise NotImplementedError

    def execute(self, sql):
        raise NotImplementedError

    def ph(self, i):
        raise NotImplementedError

    def param(self, kind, q):
        """The driver's parameter object for query vector q."""
        raise NotImplementedError

    def value(self, kind, v):
        """A fetched value as numpy (float32, float16, dense float32, bool)."""
        raise NotImplementedError

    def insert_rows(self, table, columns, rows):
        """Insert rows (tuples of driver parameter objects); the driver's bulk path."""
        raise NotImplementedError

    # --- shared
    @property
    def items(self):
        return f'{self.prefix}_items'

    @property
    def agg(self):
        return f'{self.prefix}_agg'

    def has_access_method(self, name):
        return bool(self.query(f'SELECT count(*) FROM pg_am WHERE amname = {self.ph(1)}',
                               (name,))[0][0])

    def create_tables(self):
        self.execute(f'DROP TABLE IF EXISTS {self.items}')
        self.execute(f'DROP TABLE IF EXISTS {self.agg}')
        self.execute(f'CREATE TABLE {self.items} (id integer PRIMARY KEY, embedding vector({DIM}), '
                     f'half_embedding halfvec({DIM}), sparse_embedding sparsevec({SPARSE_DIM}), '
                     f'binary_embedding bit({BITS}))')
        self.execute(f'CREATE TABLE {self.agg} (id integer PRIMARY KEY, embedding vector({DIM}), '
                     f'half_embedding halfvec({DIM}))')

    def load(self, data):
        self.create_tables()
        rows = [(i, self.param('vector', data.vector[i]), self.param('halfvec', data.halfvec[i]),
                 self.param('sparsevec', data.sparsevec[i]), self.param('bit', data.bit[i]))
                for i in range(len(data.vector))]
        self.insert_rows(self.items, ('id', 'embedding', 'half_embedding', 'sparse_embedding',
                                      'binary_embedding'), rows)
        rows = [(i, self.param('vector', data.agg[i]), self.param('halfvec', data.agg[i].astype(np.float16)))
                for i in range(len(data.agg))]
        self.insert_rows(self.agg, ('id', 'embedding', 'half_embedding'), rows)
        self.execute(f'ANALYZE {self.items}')
        self.execute(f'ANALYZE {self.agg}')

    def fetch_rows(self):
        rows = self.query(f'SELECT id, embedding, half_embedding, sparse_embedding, '
                          f'binary_embedding FROM {self.items}')
        return [(r[0], self.value('vector', r[1]), self.value('halfvec', r[2]),
                 self.value('sparsevec', r[3]), self.value('bit', r[4])) for r in rows]

    def _distance_sql(self, kind, metric):
        op = OPERATOR[metric].replace('%', '%%') if self.pyformat else OPERATOR[metric]
        return f'{COLUMN[kind]} {op} {self.ph(1)}'

    def all_distances(self, kind, metric, q):
        rows = self.query(f'SELECT id, {self._distance_sql(kind, metric)} FROM {self.items}',
                          (self.param(kind, q),))
        return [r[0] for r in rows], [r[1] for r in rows]

    def _knn_sql(self, kind, metric, k):
        return (f'SELECT id, {self._distance_sql(kind, metric)} AS distance FROM {self.items} '
                f'ORDER BY distance LIMIT {int(k)}')

    def knn(self, kind, metric, q, k):
        rows = self.query(self._knn_sql(kind, metric, k), (self.param(kind, q),))
        return [r[0] for r in rows], [r[1] for r in rows]

    def explain_knn(self, kind, metric, q, k):
        rows = self.query('EXPLAIN (COSTS OFF) ' + self._knn_sql(kind, metric, k),
                          (self.param(kind, q),))
        return '\n'.join(r[0] for r in rows)

    def create_index(self, method, kind, metric, name):
        with_ = f' WITH (lists = {LISTS})' if method == 'ivfflat' else ''
        self.execute(f'CREATE INDEX {name} ON {self.items} USING {method} '
                     f'({COLUMN[kind]} {opclass(kind, metric)}){with_}')
        return LISTS

    def drop_index(self, name):
        self.execute(f'DROP INDEX IF EXISTS {name}')

    def aggregates(self, kind, table, empty):
        table = self.agg if table == 'agg' else self.items
        where = ' WHERE false' if empty else ''
        col = COLUMN[kind]
        (avg, sm), = self.query(f'SELECT avg({col}), sum({col}) FROM {table}{where}')
        return (None if avg is None else self.value(kind, avg),
                None if sm is None else self.value(kind, sm))
