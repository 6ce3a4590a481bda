#!/usr/bin/env python3
"""Synthetic *text-embedding-like* vectors for ANN benchmarks (deterministic from a seed).

Why not vector-bench's Gaussian blobs?  Real sentence / passage embeddings (MiniLM, mpnet, e5,
ada-002, ...) are nothing like isotropic clusters in the full ambient space, and an ANN index
that looks good on blobs can look very different on them:

* they are **anisotropic** with a **low intrinsic dimension**: a few dozen principal directions
  carry most of the variance (roughly: top 10 PCs 20-35 %, top 50 55-75 % for 384-d models) and
  local estimators (TwoNN, MLE) give intrinsic dimensions of ~10-30, not 384;
* they share a **big common component**: every embedding points roughly the same way, so the
  cosine similarity of two random texts is positive (~0.1-0.3 for MiniLM-style models, more for
  e5 / ada-002) instead of ~0;
* they are **unit-normalised** (most models normalise, and L2 and cosine order agree then);
* topics are **clustered but overlapping**, with a **heavy-tailed (Zipf-like) topic
  frequency**: a few huge topics, a long tail of small ones, sub-topics inside topics, and
  many points in between topics;
* the map from "meaning" to embedding space is **curved** (the network is nonlinear), so the
  data live on a curved low-dimensional manifold, not a flat subspace;
* nearest neighbours are only moderately closer than random points (distance ratio
  d(1-NN) / d(random) ~ 0.5-0.8), far from the "all points equidistant" regime of isotropic
  high-dimensional Gaussians and far from perfectly separated clusters.

How the vectors are made (all from ``numpy.random.default_rng`` streams derived from ``--seed``):

1. **Latent space** of ``--latent`` (default 32) dimensions (the "meaning" coordinates).
2. **Topic hierarchy**: ``--supertopics`` (24) broad areas with centres
   ~ N(0, diag(c^2)), ``c_j = 1.5 (1 + j)^-0.6``, and ``--topics`` (600) topics, each under a
   random area, its centre = area centre + N(0, diag((0.35 c / 1.5)^2)).  Topic
   probabilities follow a Zipf law ``p_k ~ (k + 8)^-1.1`` (head topic ~3.5 %, 46 topics hold
   half the points, a long tail), in random order.
3. **Points**: topic centre + ``R_k diag(sigma_k) eps``: each topic has its own random rotation
   ``R_k`` and its own decaying axis scales ``sigma_k ~ 1.2 (1 + j)^-0.7`` (log-normally
   jittered per topic and axis), so topics are anisotropic, differently oriented, with most of
   their local variance in ~10-20 directions; ``eps`` is Gaussian, scaled per point by a
   log-normal factor (generic vs. specific texts: heavier tails).  Topic spreads exceed the
   distances between sibling topic centres: topics overlap (about a fifth of a query's 10
   nearest neighbours come from other topics).
4. **Decoder** into ``--dim`` (384) dimensions, two parts of the centred variance:
   * linear, 38 %: ``W z`` with ``W = U diag(s) V^T`` random, decaying singular values
     ``s_j = (1 + j)^-0.25``;
   * curved, 59 %: a random cosine feature layer ``cos(G z + b)`` (random ``G`` of moderate
     gain, phases ``b``).  It keeps the data on a ``latent``-dimensional manifold but bends it
     through many ambient directions, as a network's nonlinear layers do: with only a mild
     nonlinearity the top 50 principal components would hold ~90-98 % of the variance, which no
     real model shows (roughly 55-75 %);
   * small isotropic Gaussian noise, 3 %.
5. A **common mean offset** ``mu`` (a fixed random direction, norm 0.5 against the variable
   part's ~1: the "every embedding looks alike" component that makes random pairs' cosine ~0.2),
   then **L2 normalisation** (unit vectors: L2, cosine and inner-product orders agree).

The constants are tuned (see ``Model``) so the printed statistics land where real 384-d
sentence embeddings are (120,000 x 384, seed 42): top 10 PCs 34 %, top 50 58 %, top 100 69 % of
the variance; random-pair cosine 0.20; query to nearest neighbour cosine 0.79;
d(1-NN)/d(random) 0.51; TwoNN intrinsic dimension 23; 78 % of a query's 10-NN in its own topic
(isotropic Gaussians: 2.6 % / 13 % / 26 %, 0, ~0.2, ~0.9, ~384; separated blobs: 100 %).

The held-out queries come from the same process on their own random stream, so they are never
rows of the base set.  Base vectors are generated in fixed chunks of 10,000 rows, each on its
own stream, so a smaller ``--rows`` gives exactly a prefix of a larger data set (and
vector-bench's ``--limit`` on the large file equals the small one).

Output (``--out-dir``, default bench-results/data, ``--name`` default real<dim>-n<rows>-s<seed>):
``<name>.base.npy`` (rows x dim float32), ``<name>.queries.npy`` (queries x dim float32) and
``<name>.json`` (parameters and the statistics below).  Statistics printed (on a sample):
fraction of variance in the top 10 / 50 principal components, mean cosine of random pairs,
mean query-to-nearest-neighbour cosine, nearest-neighbour distance ratios and a TwoNN
intrinsic-dimension estimate, next to what isotropic Gaussian data of the same size would give.

    python bench/embeddings.py                       # 120,000 x 384 + 1,000 queries, seed 42
    python bench/embeddings.py --rows 20000 --seed 7 --out-dir /tmp/data
"""

import argparse
import json
import os
import sys
import time

import numpy as np

CHUNK = 10_000
VERSION = 1


def rng_for(seed, *path):
    """An independent generator for the stream named by ``path`` (ints) under ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([VERSION, seed, *path]))


def random_orthogonal(rng, n, m=None):
    """n x m matrix with orthonormal columns (m <= n), Haar-distributed."""
    m = n if m is None else m
    q, r = np.linalg.qr(rng.standard_normal((n, m)))
    return q * np.sign(np.diag(r))


class Model:
    """The generative model's fixed parts (independent of the number of rows)."""

    # Mean square norms of the centred linear, curved and noise parts (they add up to ~1), the
    # common offset's norm, the gain of the cosine feature layer, the within-topic scale and
    # its decay, the latent spectrum's decay and the linear map's singular-value decay: tuned
    # so that the statistics match real 384-d text embeddings (see the module docstring).
    LIN, NONLIN, NOISE = 0.38, 0.59, 0.03
    OFFSET = 0.5
    GAIN = 2.5
    WITHIN, WITHIN_EXP = 1.2, 0.7
    SUP, TOP, CENTRE_EXP = 1.5, 0.35, 0.6
    S_EXP = 0.25
    feat = staticmethod(np.cos)

    def __init__(self, seed, dim, latent, topics, supertopics):
        self.dim, self.latent, self.topics = dim, latent, topics
        rng = rng_for(seed, 0)
        L = latent
        cdecay = (1.0 + np.arange(L)) ** -self.CENTRE_EXP
        sup = rng.standard_normal((supertopics, L)) * (self.SUP * cdecay)
        parent = rng.integers(0, supertopics, topics)
        self.centres = sup[parent] + rng.standard_normal((topics, L)) * (self.TOP * cdecay)
        # Zipf topic frequencies, ranks shuffled (topic 0 is not special).
        w = (np.arange(topics) + 8.0) ** -1.1
        w = w[rng.permutation(topics)]
        self.p = w / w.sum()
        self.cdf = np.cumsum(self.p)
        self.cdf[-1] = 1.0
        # Per-topic anisotropic covariance: own rotation, own decaying axis scales.
        self.rot = np.stack([random_orthogonal(rng, L) for _ in range(topics)])
        base_scales = self.WITHIN * (1.0 + np.arange(L)) ** -self.WITHIN_EXP
        jitter = np.exp(0.25 * rng.standard_normal((topics, L)))
        self.scales = base_scales * jitter * np.exp(0.2 * rng.standard_normal((topics, 1)))
        # Decoder: W = U diag(s) V^T (linear part), a random cosine feature layer (the curved
        # part, which spreads variance over many directions while the manifold stays
        # `latent`-dimensional), the common offset and the noise.
        U = random_orthogonal(rng, dim, L)
        V = random_orthogonal(rng, L)
        s = (1.0 + np.arange(L)) ** -self.S_EXP
        self.W = (U * s) @ V.T  # dim x L
        # Gain relative to a fixed reference latent norm (~4.4 for L = 32).
        gref = np.sqrt(1.3 * ((1.0 + np.arange(L)) ** -0.5).sum())
        self.G = rng.standard_normal((dim, L)) * (self.GAIN / gref)
        self.b = rng.uniform(-np.pi, np.pi, dim)
        mu = rng.standard_normal(dim)
        self.mu_dir = mu / np.linalg.norm(mu)
        # Calibrate the parts on a pilot sample (its own stream, so deterministic).
        z, _ = self.latents(rng_for(seed, 1), 20_000)
        lin = z @ self.W.T
        self.lin_scale = np.sqrt(self.LIN / ((lin - lin.mean(0)) ** 2).sum(1).mean())
        nl = self.feat(z @ self.G.T + self.b)
        self.nl_mean = nl.mean(0)
        self.nl_scale = np.sqrt(self.NONLIN / ((nl - self.nl_mean) ** 2).sum(1).mean())
        self.lin_mean = lin.mean(0) * self.lin_scale
        self.noise = np.sqrt(self.NOISE / dim)

    def latents(self, rng, n):
        k = np.searchsorted(self.cdf, rng.random(n), side="right")
        k = np.minimum(k, self.topics - 1)
        eps = rng.standard_normal((n, self.latent))
        # Log-normal per-point scale: some points hug their topic centre, some stray far.
        eps *= np.exp(0.35 * rng.standard_normal((n, 1)))
        eps *= self.scales[k]
        z = np.einsum("nij,nj->ni", self.rot[k], eps)
        return self.centres[k] + z, k

    def decode(self, rng, z):
        x = (z @ self.W.T) * self.lin_scale - self.lin_mean
        x += self.nl_scale * (self.feat(z @ self.G.T + self.b) - self.nl_mean)
        x += self.OFFSET * self.mu_dir
        x += self.noise * rng.standard_normal(x.shape)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float32)

    def sample(self, rng, n):
        z, k = self.latents(rng, n)
        return self.decode(rng, z), k


def generate(model, seed, rows, queries):
    """(base, queries, base topics, query topics)."""
    base = np.empty((rows, model.dim), np.float32)
    btop = np.empty(rows, np.int32)
    for c, start in enumerate(range(0, rows, CHUNK)):
        n = min(CHUNK, rows - start)
        # Always draw whole chunks, so a chunk's rows never depend on --rows.
        x, k = model.sample(rng_for(seed, 2, c), CHUNK)
        base[start:start + n], btop[start:start + n] = x[:n], k[:n]
    q, qtop = model.sample(rng_for(seed, 3), queries)
    return base, q, btop, qtop


def statistics(base, queries, seed, btop=None, qtop=None, sample=20_000, nq=500):
    """Realism statistics on a sample (float64)."""
    rng = rng_for(seed, 9)
    n, dims = base.shape
    idx = rng.choice(n, min(sample, n), replace=False)
    X = base[idx].astype(np.float64)
    Xc = X - X.mean(0)
    ev = np.linalg.eigvalsh(Xc.T @ Xc)[::-1]
    ev = np.clip(ev, 0, None)
    frac = np.cumsum(ev) / ev.sum()
    # Participation ratio: an effective number of dimensions of the covariance.
    pr = ev.sum() ** 2 / (ev ** 2).sum()
    a = rng.integers(0, n, 100_000)
    b = rng.integers(0, n, 100_000)
    keep = a != b
    cos_pairs = np.einsum("ij,ij->i", base[a[keep]].astype(np.float64), base[b[keep]])
    # Query nearest neighbours over the whole base (unit vectors: d^2 = 2 - 2 cos).
    Q = queries[:nq].astype(np.float32)
    sims = Q @ base.T
    part = np.argpartition(-sims, 10, axis=1)[:, :11]
    top = np.take_along_axis(sims, part, 1)
    order = np.argsort(-top, axis=1)
    top = np.take_along_axis(top, order, 1)
    nn_ids = np.take_along_axis(part, order, 1)[:, :10]
    d = np.sqrt(np.clip(2.0 - 2.0 * top.astype(np.float64), 0, None))
    d_rand = np.sqrt(np.clip(2.0 - 2.0 * sims[:, :2000].astype(np.float64), 0, None)).mean(1)
    # TwoNN intrinsic dimension (Facco et al. 2017): mu = d2/d1, ID = N / sum(log mu).
    m = d[:, 1] / np.maximum(d[:, 0], 1e-12)
    m = m[np.isfinite(m) & (m > 1.0)]
    two_nn = len(m) / np.log(m).sum() if len(m) else float("nan")
    same_topic = (float((btop[nn_ids] == qtop[:nq, None]).mean())
                  if btop is not None and qtop is not None else float("nan"))
    return {
        "pca_var_top10": float(frac[9]),
        "pca_var_top50": float(frac[49]) if dims >= 50 else 1.0,
        "pca_var_top100": float(frac[99]) if dims >= 100 else 1.0,
        "participation_ratio": float(pr),
        "mean_cos_random_pairs": float(cos_pairs.mean()),
        "p05_p95_cos_random_pairs": [float(np.percentile(cos_pairs, 5)),
                                     float(np.percentile(cos_pairs, 95))],
        "mean_cos_query_nn1": float(top[:, 0].mean()),
        "mean_cos_query_nn10": float(top[:, 9].mean()),
        "nn1_over_random_dist": float((d[:, 0] / d_rand).mean()),
        "nn10_over_random_dist": float((d[:, 9] / d_rand).mean()),
        "nn10_over_nn1_dist": float((d[:, 9] / np.maximum(d[:, 0], 1e-12)).mean()),
        "twonn_intrinsic_dim": float(two_nn),
        "nn10_same_topic_fraction": same_topic,
    }


def isotropic_reference(n, d, nq=200, seed=0):
    """The same statistics for isotropic Gaussian data of the same shape (small sample)."""
    rng = np.random.default_rng(seed)
    nb = min(n, 20_000)
    B = rng.standard_normal((nb, d)).astype(np.float32)
    B /= np.linalg.norm(B, axis=1, keepdims=True)
    Q = rng.standard_normal((nq, d)).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    s = Q @ B.T
    top = -np.sort(np.partition(-s, 1, axis=1)[:, :2], axis=1)
    dd = np.sqrt(np.clip(2 - 2 * top.astype(np.float64), 0, None))
    dr = np.sqrt(np.clip(2 - 2 * s[:, :2000].astype(np.float64), 0, None)).mean(1)
    return {
        "pca_var_top10": 10 / d,
        "pca_var_top50": min(50 / d, 1.0),
        "mean_cos_random_pairs": 0.0,
        f"nn1_over_random_dist_at_{nb}_rows": float((dd[:, 0] / dr).mean()),
    }


def main():
    ap = argparse.ArgumentParser(
        description="Generate a text-embedding-like dataset (.npy float32): see the docstring.")
    ap.add_argument("--rows", type=int, default=120_000, help="base vectors (default 120000)")
    ap.add_argument("--dim", type=int, default=384, help="dimensions (default 384)")
    ap.add_argument("--queries", type=int, default=1000, help="held-out queries (default 1000)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--latent", type=int, default=32, help="latent (intrinsic) dimensions")
    ap.add_argument("--topics", type=int, default=600)
    ap.add_argument("--supertopics", type=int, default=24)
    ap.add_argument("--out-dir", default="bench-results/data")
    ap.add_argument("--name", help="file name prefix (default real<dim>-n<rows>-s<seed>)")
    ap.add_argument("--force", action="store_true", help="regenerate even if the files exist")
    ap.add_argument("--no-stats", action="store_true", help="skip the statistics")
    a = ap.parse_args()
    if a.rows < 1 or a.queries < 1 or a.dim < 2 or not 2 <= a.latent <= a.dim:
        ap.error("need --rows >= 1, --queries >= 1, 2 <= --latent <= --dim")
    name = a.name or f"real{a.dim}-n{a.rows}-s{a.seed}"
    os.makedirs(a.out_dir, exist_ok=True)
    bpath = os.path.join(a.out_dir, name + ".base.npy")
    qpath = os.path.join(a.out_dir, name + ".queries.npy")
    mpath = os.path.join(a.out_dir, name + ".json")
    if not a.force and all(os.path.exists(p) for p in (bpath, qpath, mpath)):
        print(f"[embeddings] reusing {bpath} and {qpath}", file=sys.stderr)
        print(bpath)
        print(qpath)
        return
    t = time.time()
    model = Model(a.seed, a.dim, a.latent, a.topics, a.supertopics)
    base, q, btop, qtop = generate(model, a.seed, a.rows, a.queries)
    gen_s = time.time() - t
    print(f"[embeddings] generated {a.rows} x {a.dim} + {a.queries} queries in {gen_s:.1f} s",
          file=sys.stderr)
    meta = {
        "generator": "bench/embeddings.py", "version": VERSION, "seed": a.seed,
        "rows": a.rows, "dim": a.dim, "queries": a.queries, "latent": a.latent,
        "topics": a.topics, "supertopics": a.supertopics,
        "largest_topic_share": float(model.p.max()),
        "topics_holding_half": int(np.searchsorted(np.cumsum(np.sort(model.p)[::-1]), 0.5) + 1),
        "base": os.path.abspath(bpath), "queries_file": os.path.abspath(qpath),
        "generate_seconds": round(gen_s, 2),
    }
    if not a.no_stats:
        t = time.time()
        st = statistics(base, q, a.seed, btop, qtop)
        meta["stats"] = st
        meta["isotropic_gaussian_reference"] = isotropic_reference(a.rows, a.dim)
        ref = meta["isotropic_gaussian_reference"]
        refk = next(k for k in ref if k.startswith("nn1_over"))
        print(f"[embeddings] statistics ({time.time() - t:.1f} s; isotropic Gaussian in brackets):",
              file=sys.stderr)
        lines = [
            ("variance in top 10 PCs", f"{st['pca_var_top10']:.1%}", f"{ref['pca_var_top10']:.1%}"),
            ("variance in top 50 PCs", f"{st['pca_var_top50']:.1%}", f"{ref['pca_var_top50']:.1%}"),
            ("variance in top 100 PCs", f"{st['pca_var_top100']:.1%}", f"{min(100 / a.dim, 1):.1%}"),
            ("participation ratio (eff. dims)", f"{st['participation_ratio']:.1f}", f"~{a.dim}"),
            ("mean cosine, random pairs", f"{st['mean_cos_random_pairs']:.3f}"
             f" (5-95%: {st['p05_p95_cos_random_pairs'][0]:.2f}..{st['p05_p95_cos_random_pairs'][1]:.2f})", "0"),
            ("mean cosine, query to its 1-NN / 10-NN",
             f"{st['mean_cos_query_nn1']:.3f} / {st['mean_cos_query_nn10']:.3f}", ""),
            ("d(1-NN) / d(random), d(10-NN) / d(random)",
             f"{st['nn1_over_random_dist']:.3f}, {st['nn10_over_random_dist']:.3f}", f"{ref[refk]:.3f}"),
            ("d(10-NN) / d(1-NN)", f"{st['nn10_over_nn1_dist']:.3f}", "~1.0"),
            ("TwoNN intrinsic dimension", f"{st['twonn_intrinsic_dim']:.1f}", f"~{a.dim}"),
            ("10-NN of a query in the query's own topic", f"{st['nn10_same_topic_fraction']:.1%}",
             "100% for separated blobs"),
            ("largest topic share / topics with half the mass",
             f"{meta['largest_topic_share']:.1%} / {meta['topics_holding_half']} of {a.topics}", ""),
        ]
        for k, v, r in lines:
            print(f"  {k:<48} {v}" + (f"   [{r}]" if r else ""), file=sys.stderr)
    np.save(bpath, base)
    np.save(qpath, q)
    with open(mpath, "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(bpath)
    print(qpath)


if __name__ == "__main__":
    main()
