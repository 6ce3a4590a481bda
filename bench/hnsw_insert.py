#!/usr/bin/env python3
"""Insert throughput into an indexed table, and recall after the inserts (vector_ext or pgvector).

One run, on rows of a .npy/.fvecs base file (ids = row numbers):

1. ``CREATE TABLE <table> (id int4 PRIMARY KEY, embedding vector(dim)) WITH
   (autovacuum_enabled = false)`` (no autovacuum running into the timings) and binary COPY of
   the first ``--base-rows`` rows; ``VACUUM ANALYZE``;
2. ``CREATE INDEX`` (``--index``, vector-bench syntax ``hnsw:m=16,ef_construction=64`` or
   ``ivfflat:lists=100``) with the ``--build-set`` settings; build time and size;
3. ``CHECKPOINT``, then **one binary COPY of the next ``--timed-rows`` rows** (one statement,
   one transaction, commit included): the headline rows/s; then a second COPY of the remaining
   rows up to ``--extra-rows`` (default half of ``--base-rows``), and rows/s over all of them;
4. the queries (``--queries``) with the ``--set`` settings (default ``hnsw.ef_search=40``) and
   ``enable_seqscan = off``: **recall@k against brute force over the final table** (computed
   here with numpy, tie aware like vector-bench), QPS and latency of one client, the plan;
5. with ``--fresh``: drop the index, build it again on the final table and measure the same
   queries, the reference for what the inserts cost in recall.

Writes one JSON (``--out``) and prints progress lines.  Needs psycopg 3 and numpy (the
clients virtualenv made by scripts/clients-venv.sh has both).

    python bench/hnsw_insert.py --url 'host=127.0.0.1 port=5544 user=postgres dbname=bench_pgv' \\
        --ext vector --data base.npy --queries queries.npy --base-rows 50000 --timed-rows 10000 \\
        --index hnsw:m=16,ef_construction=64 --set hnsw.ef_search=40 --fresh --out insert.json
"""

import argparse
import json
import re
import struct
import sys
import time

import numpy as np
import psycopg

OPCLASS = {"l2": "vector_l2_ops", "cosine": "vector_cosine_ops", "ip": "vector_ip_ops"}
OPERATOR = {"l2": "<->", "cosine": "<=>", "ip": "<#>"}
TIE_EPS = 1e-6


def log(msg):
    print(f"[insert] {msg}", file=sys.stderr, flush=True)


def load_matrix(path):
    if path.endswith(".npy"):
        m = np.load(path, mmap_mode="r")
        if m.ndim != 2:
            sys.exit(f"{path}: expected a 2-D array")
        return np.ascontiguousarray(m, dtype=np.float32)
    if path.endswith(".fvecs"):
        raw = np.fromfile(path, dtype=np.int32)
        d = int(raw[0])
        return raw.reshape(-1, d + 1)[:, 1:].view(np.float32).copy()
    sys.exit(f"{path}: use .npy or .fvecs")


def parse_spec(spec):
    method, _, opts = spec.partition(":")
    options = []
    for kv in filter(None, (o.strip() for o in opts.split(","))):
        k, sep, v = kv.partition("=")
        if not sep or not re.fullmatch(r"[a-z_][a-z0-9_]*", k.strip()) or not re.fullmatch(
                r"[A-Za-z0-9_.]+", v.strip()):
            sys.exit(f"bad index option {kv!r} in {spec!r}")
        options.append((k.strip(), v.strip()))
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", method.strip()):
        sys.exit(f"bad index method in {spec!r}")
    return method.strip(), options


def parse_sets(items):
    out = []
    for s in items:
        k, sep, v = s.partition("=")
        if not sep:
            sys.exit(f"setting {s!r} is not KEY=VALUE")
        out.append((k.strip(), v.strip()))
    return out


def copy_binary(rows, first_id):
    """PostgreSQL binary COPY payload of (id int4, embedding vector) rows."""
    n, d = rows.shape
    dt = np.dtype([("nf", ">i2"), ("l1", ">i4"), ("id", ">i4"), ("l2", ">i4"), ("dim", ">i2"),
                   ("unused", ">i2"), ("v", ">f4", (d,))])
    a = np.empty(n, dt)
    a["nf"], a["l1"], a["l2"], a["dim"], a["unused"] = 2, 4, 4 + 4 * d, d, 0
    a["id"] = np.arange(first_id, first_id + n, dtype=np.int64)
    a["v"] = rows
    return b"PGCOPY\n\xff\r\n\0" + struct.pack(">ii", 0, 0) + a.tobytes() + struct.pack(">h", -1)


def copy_rows(conn, table, payload):
    with conn.cursor() as cur:
        with cur.copy(f"COPY {table} (id, embedding) FROM STDIN (FORMAT binary)") as cp:
            step = 1 << 20
            for i in range(0, len(payload), step):
                cp.write(payload[i:i + step])


def distances(metric, q, X, xnorm2=None):
    """Exact (float64) distances from q to the rows of X, in the SQL operator's units."""
    q = q.astype(np.float64)
    X = X.astype(np.float64)
    if metric == "l2":
        return np.sqrt(np.maximum(((X - q) ** 2).sum(1), 0.0))
    dots = X @ q
    if metric == "ip":
        return -dots
    return 1.0 - dots / np.maximum(np.linalg.norm(X, axis=1) * np.linalg.norm(q), 1e-300)


def brute_force(metric, base, queries, k, cand=64):
    """(ids, k-th distance) of the exact k nearest rows for each query."""
    B = base
    n = len(B)
    bn2 = (B.astype(np.float64) ** 2).sum(1)
    cand = min(max(cand, k), n)
    ids_all, kth_all = [], []
    for s in range(0, len(queries), 256):
        Q = queries[s:s + 256]
        dots = Q @ B.T  # float32 screening, exact re-ranking below
        if metric == "l2":
            score = bn2[None, :].astype(np.float32) - 2.0 * dots
        elif metric == "ip":
            score = -dots
        else:
            score = -dots / np.sqrt(np.maximum(bn2, 1e-300)).astype(np.float32)[None, :]
        part = np.argpartition(score, cand - 1, axis=1)[:, :cand]
        for qi, c in enumerate(part):
            dist = distances(metric, Q[qi], B[c])
            o = np.argsort(dist, kind="stable")[:k]
            ids_all.append(c[o])
            kth_all.append(dist[o[-1]])
    return ids_all, np.array(kth_all)


def recall(metric, base, queries, truth, kth, results, k):
    rs = []
    for qi, got in enumerate(results):
        got = list(dict.fromkeys(got))[:k]  # duplicates count once
        if not got:
            rs.append(0.0)
            continue
        t = set(truth[qi].tolist())
        valid = [g for g in got if 0 <= g < len(base)]
        dist = distances(metric, queries[qi], base[valid]) if valid else np.array([])
        dmap = dict(zip(valid, dist))
        tol = TIE_EPS * max(abs(kth[qi]), 1e-12)
        hits = sum(1 for g in got if g in t or (g in dmap and dmap[g] <= kth[qi] + tol))
        rs.append(min(hits, k) / k)
    return float(np.mean(rs)), float(np.min(rs))


def index_bytes(conn, name):
    return conn.execute("SELECT pg_relation_size(to_regclass(%s))", (name,)).fetchone()[0] or 0


def build(conn, table, name, method, options, metric, build_sets):
    conn.execute(f"DROP INDEX IF EXISTS {name}")
    sql = f"CREATE INDEX {name} ON {table} USING {method} (embedding {OPCLASS[metric]})"
    if options:
        sql += " WITH (" + ", ".join(f"{k} = {v}" for k, v in options) + ")"
    for k, v in build_sets:
        conn.execute("SELECT set_config(%s, %s, false)", (k, v))
    log(sql)
    t = time.perf_counter()
    conn.execute(sql)
    secs = time.perf_counter() - t
    conn.execute("RESET ALL")
    size = index_bytes(conn, name)
    log(f"built in {secs:.2f} s, {size / 2**20:.1f} MiB")
    return sql, secs, size


def run_queries(conn, table, name, metric, k, sets, texts, warmup=20):
    conn.execute("RESET ALL")
    for kk, v in sets + [("enable_seqscan", "off")]:
        conn.execute("SELECT set_config(%s, %s, false)", (kk, v))
    sql = f"SELECT id FROM {table} ORDER BY embedding {OPERATOR[metric]} %s::vector LIMIT {k}"
    plan = [r[0] for r in conn.execute("EXPLAIN " + sql.replace("%s", "'" + texts[0] + "'"))]
    scan = next((p.strip().lstrip("->").strip() for p in plan if "Scan" in p), plan[0])
    if name not in " ".join(plan):
        log(f"warning: the plan does not use {name}: {scan}")
    with conn.cursor() as cur:
        for t in texts[:warmup]:
            cur.execute(sql, (t,), prepare=True)
            cur.fetchall()
        lat, res = [], []
        t0 = time.perf_counter()
        for t in texts:
            s = time.perf_counter()
            cur.execute(sql, (t,), prepare=True)
            res.append([r[0] for r in cur.fetchall()])
            lat.append((time.perf_counter() - s) * 1e3)
        wall = time.perf_counter() - t0
    conn.execute("RESET ALL")
    return res, {
        "qps": len(texts) / wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "mean_returned": float(np.mean([len(r) for r in res])),
        "plan_scan_line": scan,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True, help="libpq connection string")
    ap.add_argument("--ext", default="vector_ext", help="vector_ext or vector (pgvector)")
    ap.add_argument("--data", required=True, help="base vectors (.npy or .fvecs)")
    ap.add_argument("--queries", required=True, help="query vectors (.npy or .fvecs)")
    ap.add_argument("--nq", type=int, default=1000, help="queries to use (default 1000)")
    ap.add_argument("--base-rows", type=int, default=50_000)
    ap.add_argument("--timed-rows", type=int, default=10_000)
    ap.add_argument("--extra-rows", type=int, help="rows inserted in all (default base-rows/2)")
    ap.add_argument("--index", default="hnsw:m=16,ef_construction=64")
    ap.add_argument("--metric", choices=sorted(OPCLASS), default="l2")
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="query setting, repeatable (default hnsw.ef_search=40 for hnsw)")
    ap.add_argument("--build-set", dest="build_sets", action="append", default=[],
                    metavar="KEY=VALUE", help="index build setting, repeatable")
    ap.add_argument("--table", default="bench_insert")
    ap.add_argument("--fresh", action="store_true",
                    help="also rebuild the index on the final table and measure it")
    ap.add_argument("--out", required=True, help="JSON result file")
    ap.add_argument("--label", default="", help="free text stored in the JSON")
    a = ap.parse_args()
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", a.table):
        sys.exit(f"bad table name {a.table!r}")
    extra = a.extra_rows if a.extra_rows is not None else a.base_rows // 2
    if not 0 < a.timed_rows <= extra:
        sys.exit("need 0 < --timed-rows <= --extra-rows")
    method, options = parse_spec(a.index)
    sets = parse_sets(a.sets)
    if not sets and method == "hnsw":
        sets = [("hnsw.ef_search", "40")]
    build_sets = parse_sets(a.build_sets)

    X = load_matrix(a.data)
    final = a.base_rows + extra
    if len(X) < final:
        sys.exit(f"{a.data} has {len(X)} rows, need {final} (base {a.base_rows} + {extra})")
    X = X[:final]
    Q = load_matrix(a.queries)[:a.nq]
    if Q.shape[1] != X.shape[1]:
        sys.exit("base and query dimensions differ")
    dim = X.shape[1]
    texts = ["[" + ",".join(repr(float(x)) for x in row) + "]" for row in Q]
    t_truth = time.perf_counter()
    truth, kth = brute_force(a.metric, X, Q, a.k)
    log(f"ground truth over {final} rows: {time.perf_counter() - t_truth:.1f} s")

    name = f"{a.table}_{method}_idx"
    out = {"tool": "bench/hnsw_insert.py", "label": a.label, "ext": a.ext, "index": a.index,
           "metric": a.metric, "k": a.k, "dim": dim, "base_rows": a.base_rows,
           "timed_rows": a.timed_rows, "extra_rows": extra, "final_rows": final,
           "queries": len(Q), "query_settings": sets, "build_settings": build_sets,
           "data": a.data, "started_unix": int(time.time())}
    with psycopg.connect(a.url, autocommit=True) as conn:
        conn.execute(f"CREATE EXTENSION IF NOT EXISTS {a.ext}")
        out["ext_version"] = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = %s", (a.ext,)).fetchone()[0]
        out["server_version"] = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute(f"DROP TABLE IF EXISTS {a.table}")
        conn.execute(f"CREATE TABLE {a.table} (id int4 PRIMARY KEY, embedding vector({dim})) "
                     "WITH (autovacuum_enabled = false)")
        t = time.perf_counter()
        copy_rows(conn, a.table, copy_binary(X[:a.base_rows], 0))
        conn.execute(f"VACUUM (ANALYZE) {a.table}")
        out["load_seconds"] = time.perf_counter() - t
        log(f"{a.ext} {out['ext_version']}: loaded {a.base_rows} x {dim} in "
            f"{out['load_seconds']:.1f} s")
        sql, secs, size = build(conn, a.table, name, method, options, a.metric, build_sets)
        out["build"] = {"sql": sql, "seconds": secs, "index_bytes": size}

        p1 = copy_binary(X[a.base_rows:a.base_rows + a.timed_rows], a.base_rows)
        p2 = copy_binary(X[a.base_rows + a.timed_rows:], a.base_rows + a.timed_rows)
        conn.execute("CHECKPOINT")
        t = time.perf_counter()
        copy_rows(conn, a.table, p1)
        s1 = time.perf_counter() - t
        log(f"COPY {a.timed_rows} rows into {a.base_rows} indexed rows: {s1:.2f} s, "
            f"{a.timed_rows / s1:.0f} rows/s")
        s2 = 0.0
        if len(X) > a.base_rows + a.timed_rows:
            t = time.perf_counter()
            copy_rows(conn, a.table, p2)
            s2 = time.perf_counter() - t
        n2 = extra - a.timed_rows
        out["timed_insert"] = {"rows": a.timed_rows, "into_rows": a.base_rows, "seconds": s1,
                               "rows_per_sec": a.timed_rows / s1}
        out["all_inserts"] = {"rows": extra, "seconds": s1 + s2,
                              "rows_per_sec": extra / (s1 + s2),
                              "second_copy_rows_per_sec": (n2 / s2) if s2 > 0 else None}
        log(f"all {extra} inserted rows: {s1 + s2:.2f} s, {extra / (s1 + s2):.0f} rows/s; "
            f"table now {final} rows")
        conn.execute(f"ANALYZE {a.table}")
        out["index_bytes_after_insert"] = index_bytes(conn, name)
        n = conn.execute(f"SELECT count(*) FROM {a.table}").fetchone()[0]
        if n != final:
            sys.exit(f"table holds {n} rows, expected {final}")

        setting = ",".join(f"{k}={v}" for k, v in sets) or "-"
        res, st = run_queries(conn, a.table, name, a.metric, a.k, sets, texts)
        st["recall"], st["recall_min"] = recall(a.metric, X, Q, truth, kth, res, a.k)
        st["setting"] = setting
        out["after_insert"] = st
        log(f"after inserts, {setting}: recall@{a.k} {st['recall']:.4f}, {st['qps']:.0f} QPS, "
            f"p50 {st['p50_ms']:.2f} ms ({st['plan_scan_line']})")
        if a.fresh:
            sql, secs, size = build(conn, a.table, name, method, options, a.metric, build_sets)
            res, st = run_queries(conn, a.table, name, a.metric, a.k, sets, texts)
            st["recall"], st["recall_min"] = recall(a.metric, X, Q, truth, kth, res, a.k)
            st.update({"setting": setting, "build_seconds": secs, "index_bytes": size})
            out["fresh_build"] = st
            log(f"fresh build on {final} rows, {setting}: recall@{a.k} {st['recall']:.4f}, "
                f"{st['qps']:.0f} QPS")
        conn.execute(f"DROP TABLE IF EXISTS {a.table}")
    with open(a.out, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    log(f"wrote {a.out}")


if __name__ == "__main__":
    main()
