#!/usr/bin/env python3
"""Side-by-side summary of vector-bench reports: ours (vector_ext) against pgvector.

Reads vector-bench ``run`` JSON reports (one per timed round, any number of rounds per side)
and, optionally, bench/hnsw_insert.py results, and writes a summary JSON and a markdown table:

* per side and search setting (``ef_search=N``, ``probes=N``, ...): the **median over rounds**
  of recall@k, single-client QPS, p50/p99 latency and the aggregate QPS of the concurrent
  clients (vector-bench ``--clients N``), plus the spread of recall and QPS over rounds;
* **QPS interpolated at recall@k = target** (default 0.95), 1 client and N clients: linear
  interpolation (in recall) between the two adjacent settings, in knob order, whose median
  recalls bracket the target; when no pair brackets it the reason is given ("every setting is
  at or above the target": the lowest setting's QPS is only a lower bound; "never reached");
* the ratio ours / pgvector of QPS at the target, build time, index size and insert rows/s
  (for QPS and rows/s > 1 means ours is better, for build time and size < 1 does);
* insert results: rows/s of the timed COPY into the indexed table, rows/s over all inserts,
  recall after the inserts and after a fresh build (medians over rounds).

The reports of a side must be of one dataset (fingerprint), metric and k, and the two sides
should be of the same ones (a warning is printed otherwise).

    python bench/hnsw_summary.py --ours r/vector_ext-round*.json --theirs r/vector-round*.json \\
        --ours-insert r/insert-vector_ext-*.json --theirs-insert r/insert-vector-*.json \\
        --out-json r/summary.json --out-md r/summary.md
"""

import argparse
import json
import re
import statistics
import sys


def warn(msg):
    print(f"[summary] warning: {msg}", file=sys.stderr)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def knob(setting):
    """('ef_search', 40.0) from 'ef_search=40'; (setting, None) if not numeric."""
    m = re.fullmatch(r"\s*([A-Za-z_.]+)\s*=\s*([0-9.]+)\s*", setting or "")
    return (m.group(1), float(m.group(2))) if m else (setting, None)


def pick_config(rep, want):
    cands = [c for c in rep["configs"] if c["spec"]["method"] != "seqscan"]
    if want:
        cands = [c for c in cands if c["label"] == want or c["spec"]["method"] == want]
    if not cands:
        raise SystemExit(f"report {rep.get('_path')}: no index configuration"
                         + (f" matching {want!r}" if want else ""))
    return cands[0]


def load_side(paths, want):
    if not paths:
        return None
    reps = []
    for p in paths:
        with open(p) as f:
            r = json.load(f)
        r["_path"] = p
        reps.append(r)
    r0 = reps[0]
    for r in reps[1:]:
        for key in ("metric", "k", "ext"):
            if r[key] != r0[key]:
                raise SystemExit(f"{r['_path']}: {key} {r[key]!r} differs from "
                                 f"{r0['_path']}'s {r0[key]!r}")
        if r["dataset"]["fingerprint"] != r0["dataset"]["fingerprint"]:
            raise SystemExit(f"{r['_path']}: another dataset than {r0['_path']}")
    configs = [pick_config(r, want) for r in reps]
    labels = {c["label"] for c in configs}
    if len(labels) > 1:
        raise SystemExit(f"different index configurations across rounds: {sorted(labels)}")
    settings = {}
    order = []
    for c in configs:
        for x in c["results"]:
            if x["setting"] not in settings:
                settings[x["setting"]] = []
                order.append(x["setting"])
            settings[x["setting"]].append(x)
    rows = []
    for s in order:
        xs = settings[s]
        ok = [x for x in xs if not x.get("error")]
        name, val = knob(s)
        conc = [x["concurrent"] for x in ok if x.get("concurrent")]
        rows.append({
            "setting": s, "knob": name, "value": val, "rounds": len(ok),
            "errors": [x["error"] for x in xs if x.get("error")],
            "recall": med([x["recall"] for x in ok]),
            "recall_range": [min(x["recall"] for x in ok), max(x["recall"] for x in ok)] if ok else None,
            "recall_min_query": med([x["recall_min"] for x in ok]),
            "mean_returned": med([x["mean_returned"] for x in ok]),
            "qps": med([x["qps"] for x in ok]),
            "qps_range": [min(x["qps"] for x in ok), max(x["qps"] for x in ok)] if ok else None,
            "p50_ms": med([x["p50_ms"] for x in ok]),
            "p99_ms": med([x["p99_ms"] for x in ok]),
            "clients": conc[0]["clients"] if conc else 1,
            "qps_clients": med([c["qps"] for c in conc]),
            "qps_clients_range": [min(c["qps"] for c in conc), max(c["qps"] for c in conc)] if conc else None,
            "p50_ms_clients": med([c["p50_ms"] for c in conc]),
            "p99_ms_clients": med([c["p99_ms"] for c in conc]),
            "plan_scan_line": ok[0]["plan_scan_line"] if ok else None,
        })
    if all(r["value"] is not None for r in rows):
        rows.sort(key=lambda r: r["value"])
    builds = [c["build"] for c in configs if c.get("build")]
    d = r0["dataset"]
    return {
        "ext": r0["ext"], "ext_version": r0["ext_version"], "server_version": r0["server_version"],
        "index": configs[0]["label"], "index_sql": builds[0]["sql"] if builds else None,
        "metric": r0["metric"], "k": r0["k"], "rounds": len(reps),
        "reports": [r["_path"] for r in reps],
        "dataset": {"fingerprint": d["fingerprint"], "rows": d["rows"], "dim": d["dim"],
                    "queries": d["queries"], "source": d["source"],
                    "data_path": d.get("data_path"), "synthetic": d.get("synthetic")},
        "param_format": r0.get("param_format"), "session_gucs": r0.get("session_gucs"),
        "build_gucs": r0.get("build_gucs"),
        "build_seconds": med([b["seconds"] for b in builds]),
        "build_seconds_all": [b["seconds"] for b in builds],
        "index_bytes": med([b["index_bytes"] for b in builds]),
        "table_bytes": r0.get("table_bytes"),
        "build_errors": [c["error"] for c in configs if c.get("error")],
        "settings": rows,
    }


def interpolate(rows, target, key):
    """QPS (rows[i][key]) at recall = target, linear between bracketing adjacent settings."""
    pts = [(r["recall"], r[key], r["setting"]) for r in rows
           if r["recall"] is not None and r[key] is not None]
    if not pts:
        return {"qps": None, "status": "no measurements"}
    for (r0, q0, s0), (r1, q1, s1) in zip(pts, pts[1:]):
        if r0 < target <= r1:
            q = q0 + (target - r0) * (q1 - q0) / (r1 - r0)
            return {"qps": q, "status": "interpolated", "between": [s0, s1],
                    "recalls": [r0, r1], "qps_bracket": [q0, q1]}
    if pts[0][0] >= target:
        return {"qps": None, "status": f"not bracketed: every setting is at or above {target} "
                f"(lowest, {pts[0][2]}: recall {pts[0][0]:.4f} at {pts[0][1]:.1f} QPS, a lower "
                "bound)", "lower_bound": pts[0][1]}
    best = max(pts, key=lambda p: p[0])
    if best[0] < target:
        return {"qps": None, "status": f"not bracketed: recall {target} never reached "
                f"(best {best[0]:.4f} at {best[2]})"}
    return {"qps": None, "status": "not bracketed: recall is not monotone in the knob"}


def load_inserts(paths):
    if not paths:
        return None
    xs = []
    for p in paths:
        with open(p) as f:
            x = json.load(f)
        x["_path"] = p
        xs.append(x)
    fresh = [x["fresh_build"] for x in xs if x.get("fresh_build")]
    x0 = xs[0]
    return {
        "ext": x0["ext"], "ext_version": x0.get("ext_version"), "index": x0["index"],
        "rounds": len(xs), "files": [x["_path"] for x in xs],
        "dim": x0["dim"], "base_rows": x0["base_rows"], "timed_rows": x0["timed_rows"],
        "extra_rows": x0["extra_rows"], "final_rows": x0["final_rows"],
        "setting": x0["after_insert"]["setting"],
        "build_seconds": med([x["build"]["seconds"] for x in xs]),
        "timed_rows_per_sec": med([x["timed_insert"]["rows_per_sec"] for x in xs]),
        "timed_rows_per_sec_all": [x["timed_insert"]["rows_per_sec"] for x in xs],
        "all_rows_per_sec": med([x["all_inserts"]["rows_per_sec"] for x in xs]),
        "recall_after_insert": med([x["after_insert"]["recall"] for x in xs]),
        "qps_after_insert": med([x["after_insert"]["qps"] for x in xs]),
        "plan_after_insert": x0["after_insert"]["plan_scan_line"],
        "recall_fresh_build": med([f["recall"] for f in fresh]),
        "qps_fresh_build": med([f["qps"] for f in fresh]),
        "index_bytes_after_insert": med([x["index_bytes_after_insert"] for x in xs]),
    }


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def fmt(x, spec=".1f", none="—"):
    return none if x is None else format(x, spec)


def mib(b):
    return None if b is None else b / 2**20


def main():
    ap = argparse.ArgumentParser(description="Summarise vector-bench reports: ours vs pgvector")
    ap.add_argument("--ours", nargs="*", default=[], help="vector-bench JSON reports (ours)")
    ap.add_argument("--theirs", nargs="*", default=[], help="vector-bench JSON reports (pgvector)")
    ap.add_argument("--ours-insert", nargs="*", default=[], help="hnsw_insert.py results (ours)")
    ap.add_argument("--theirs-insert", nargs="*", default=[], help="hnsw_insert.py results (pgvector)")
    ap.add_argument("--config", help="index configuration label or method to use (default: "
                    "the first index configuration of each report)")
    ap.add_argument("--target", type=float, default=0.95, help="recall@k target (default 0.95)")
    ap.add_argument("--title", default="hnsw: vector_ext vs pgvector")
    ap.add_argument("--dataset-meta", help="bench/embeddings.py's <name>.json (statistics shown)")
    ap.add_argument("--out-json")
    ap.add_argument("--out-md")
    a = ap.parse_args()

    if not a.ours and not a.theirs:
        ap.error("give --ours and/or --theirs reports")
    ours = load_side(a.ours, a.config)
    theirs = load_side(a.theirs, a.config)
    if ours and theirs:
        for key in ("metric", "k"):
            if ours[key] != theirs[key]:
                warn(f"{key} differs: ours {ours[key]}, pgvector {theirs[key]}")
        if ours["dataset"]["fingerprint"] != theirs["dataset"]["fingerprint"]:
            warn("the two sides ran on different datasets")
    sides = [(n, x) for n, x in (("ours", ours), ("pgvector", theirs)) if x]
    for _, s in sides:
        s["at_target"] = {"1": interpolate(s["settings"], a.target, "qps")}
        if any(r["qps_clients"] is not None for r in s["settings"]):
            c = max(r["clients"] for r in s["settings"])
            s["at_target"][str(c)] = interpolate(s["settings"], a.target, "qps_clients")
    ins = {"ours": load_inserts(a.ours_insert), "pgvector": load_inserts(a.theirs_insert)}

    comp = {}
    if ours and theirs:
        for c in ours["at_target"]:
            if c in theirs["at_target"]:
                comp[f"qps_at_recall_{c}_client{'s' if c != '1' else ''}"] = ratio(
                    ours["at_target"][c]["qps"], theirs["at_target"][c]["qps"])
        comp["build_seconds"] = ratio(ours["build_seconds"], theirs["build_seconds"])
        comp["index_bytes"] = ratio(ours["index_bytes"], theirs["index_bytes"])
    if ins["ours"] and ins["pgvector"]:
        comp["insert_timed_rows_per_sec"] = ratio(ins["ours"]["timed_rows_per_sec"],
                                                  ins["pgvector"]["timed_rows_per_sec"])
        comp["insert_all_rows_per_sec"] = ratio(ins["ours"]["all_rows_per_sec"],
                                                ins["pgvector"]["all_rows_per_sec"])
    meta = None
    if a.dataset_meta:
        with open(a.dataset_meta) as f:
            meta = json.load(f)
    summary = {"title": a.title, "target_recall": a.target, "ours": ours, "pgvector": theirs,
               "insert": ins, "ratio_ours_over_pgvector": comp, "dataset_meta": meta}

    md = render(summary, a.target)
    if a.out_json:
        with open(a.out_json, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
    if a.out_md:
        with open(a.out_md, "w") as f:
            f.write(md)
    print(md, end="")


def render(s, target):
    o, t, ins, comp = s["ours"], s["pgvector"], s["insert"], s["ratio_ours_over_pgvector"]
    p = o or t  # dataset, metric and k come from the first side present
    d = p["dataset"]
    L = [f"# {s['title']}", ""]
    src = d["data_path"] or (f"vector-bench synthetic {d['synthetic']}" if d["synthetic"] else d["source"])
    L.append(f"- dataset: {d['rows']:,} x {d['dim']}, {d['queries']} queries ({src}; "
             f"{d['fingerprint']}), metric {p['metric']}, k = {p['k']}")
    if o:
        L.append(f"- ours: {o['ext']} {o['ext_version']}, `{o['index']}`, {o['rounds']} round(s)")
    if t:
        L.append(f"- pgvector: {t['ext']} {t['ext_version']}, `{t['index']}`, {t['rounds']} round(s)")
    L.append(f"- PostgreSQL {p['server_version']}; figures are medians over rounds; "
             f"ratio = ours / pgvector")
    m = s.get("dataset_meta")
    if m and m.get("stats"):
        st = m["stats"]
        L.append(f"- data ({m['generator']}, seed {m['seed']}, {m['topics']} Zipf topics): "
                 f"variance in top 10 / 50 PCs {st['pca_var_top10']:.0%} / {st['pca_var_top50']:.0%}, "
                 f"random-pair cosine {st['mean_cos_random_pairs']:.2f}, query-1-NN cosine "
                 f"{st['mean_cos_query_nn1']:.2f}, d(1-NN)/d(random) {st['nn1_over_random_dist']:.2f}, "
                 f"TwoNN intrinsic dim {st['twonn_intrinsic_dim']:.0f}")
    L.append("")
    # Headline table.
    k = p["k"]
    L += ["| measure | ours | pgvector | ratio | better |", "|---|---|---|---|---|"]

    def at(side, c):
        if not side or c not in side["at_target"]:
            return "—"
        x = side["at_target"][c]
        if x["qps"] is not None:
            return f"{x['qps']:.1f}"
        if x.get("lower_bound") is not None:
            return f"≥ {x['lower_bound']:.1f} (n/b)"
        return "—" if x["status"] == "no measurements" else "n/b"

    clients = sorted({c for x in (o, t) if x for c in x["at_target"]}, key=int)
    for c in clients:
        key = f"qps_at_recall_{c}_client{'s' if c != '1' else ''}"
        L.append(f"| QPS at recall@{k} = {target}, {c} client{'s' if c != '1' else ''} | "
                 f"{at(o, c)} | {at(t, c)} | {fmt(comp.get(key), '.2f')} | higher |")
    L.append(f"| build time, s | {fmt(o['build_seconds'] if o else None, '.2f')} | "
             f"{fmt(t['build_seconds'] if t else None, '.2f')} | "
             f"{fmt(comp.get('build_seconds'), '.2f')} | lower |")
    L.append(f"| index size, MiB | {fmt(mib(o['index_bytes']) if o else None)} | "
             f"{fmt(mib(t['index_bytes']) if t else None)} | {fmt(comp.get('index_bytes'), '.2f')} | lower |")
    io, it = ins["ours"], ins["pgvector"]
    if io or it:
        x = io or it
        L.append(f"| insert rows/s: COPY {x['timed_rows']:,} into {x['base_rows']:,} indexed rows "
                 f"(dim {x['dim']}) | {fmt(io and io['timed_rows_per_sec'], '.0f')} | "
                 f"{fmt(it and it['timed_rows_per_sec'], '.0f')} | "
                 f"{fmt(comp.get('insert_timed_rows_per_sec'), '.2f')} | higher |")
        L.append(f"| insert rows/s: all {x['extra_rows']:,} inserted rows | "
                 f"{fmt(io and io['all_rows_per_sec'], '.0f')} | "
                 f"{fmt(it and it['all_rows_per_sec'], '.0f')} | "
                 f"{fmt(comp.get('insert_all_rows_per_sec'), '.2f')} | higher |")
        so = io["setting"] if io else "—"
        st = it["setting"] if it else "—"
        sett = so if so == st else f"ours {so}, pgvector {st}"
        L.append(f"| recall@{k} after +{x['extra_rows']:,} inserts ({x['final_rows']:,} rows), "
                 f"{sett} | {fmt(io and io['recall_after_insert'], '.4f')} | "
                 f"{fmt(it and it['recall_after_insert'], '.4f')} | | higher |")
        if (io and io["recall_fresh_build"] is not None) or (it and it["recall_fresh_build"] is not None):
            L.append(f"| recall@{k}, fresh build on the same {x['final_rows']:,} rows | "
                     f"{fmt(io and io['recall_fresh_build'], '.4f')} | "
                     f"{fmt(it and it['recall_fresh_build'], '.4f')} | | higher |")
    L.append("")
    for name, side in (("ours", o), ("pgvector", t)):
        if not side:
            continue
        for c, x in side["at_target"].items():
            if x["status"] == "interpolated":
                L.append(f"- {name}, {c} client(s): recall {target} between {x['between'][0]} "
                         f"(recall {x['recalls'][0]:.4f}, {x['qps_bracket'][0]:.1f} QPS) and "
                         f"{x['between'][1]} ({x['recalls'][1]:.4f}, {x['qps_bracket'][1]:.1f} QPS)")
            else:
                L.append(f"- {name}, {c} client(s): {x['status']}")
                if "at or above" in x["status"]:
                    L.append("  (add lower settings to the sweep, e.g. EF_SEARCH=10,20,40,...)")
    L.append("")
    # Per-setting tables.
    same = o and t and [r["setting"] for r in o["settings"]] == [r["setting"] for r in t["settings"]]
    nc = max(r["clients"] for x in (o, t) if x for r in x["settings"])
    if same:
        L.append(f"## recall@{k} and QPS per setting (medians; ratio = ours / pgvector)")
        L.append("")
        hdr = (f"| setting | recall ours | recall pgv | QPS ours | QPS pgv | ratio | "
               f"p50 ms ours | p50 ms pgv |")
        sep = "|---|---|---|---|---|---|---|---|"
        if nc > 1:
            hdr += f" QPS x{nc} ours | QPS x{nc} pgv | ratio x{nc} |"
            sep += "---|---|---|"
        L += [hdr, sep]
        for ro, rt in zip(o["settings"], t["settings"]):
            line = (f"| {ro['setting']} | {fmt(ro['recall'], '.4f')} | {fmt(rt['recall'], '.4f')} | "
                    f"{fmt(ro['qps'])} | {fmt(rt['qps'])} | {fmt(ratio(ro['qps'], rt['qps']), '.2f')} | "
                    f"{fmt(ro['p50_ms'], '.3f')} | {fmt(rt['p50_ms'], '.3f')} |")
            if nc > 1:
                line += (f" {fmt(ro['qps_clients'])} | {fmt(rt['qps_clients'])} | "
                         f"{fmt(ratio(ro['qps_clients'], rt['qps_clients']), '.2f')} |")
            L.append(line)
        L.append("")
    else:
        for name, side in (("ours", o), ("pgvector", t)):
            if not side:
                continue
            L.append(f"## {name}: {side['ext']} {side['ext_version']} `{side['index']}` (medians)")
            L.append("")
            hdr = f"| setting | recall@{k} | QPS | p50 ms | p99 ms |"
            sep = "|---|---|---|---|---|"
            if nc > 1:
                hdr += f" QPS x{nc} clients | p50 ms x{nc} |"
                sep += "---|---|"
            L += [hdr, sep]
            for r in side["settings"]:
                line = (f"| {r['setting']} | {fmt(r['recall'], '.4f')} | {fmt(r['qps'])} | "
                        f"{fmt(r['p50_ms'], '.3f')} | {fmt(r['p99_ms'], '.3f')} |")
                if nc > 1:
                    line += f" {fmt(r['qps_clients'])} | {fmt(r['p50_ms_clients'], '.3f')} |"
                if r["errors"]:
                    line += f" errors: {len(r['errors'])}"
                L.append(line)
            L.append("")
    notes = []
    for name, side in (("ours", o), ("pgvector", t)):
        if not side:
            continue
        if side["build_errors"]:
            notes.append(f"{name}: build errors: {side['build_errors']}")
        for r in side["settings"]:
            if r["errors"]:
                notes.append(f"{name} {r['setting']}: {len(r['errors'])} failed round(s): "
                             f"{r['errors'][0][:200]}")
            if r["mean_returned"] is not None and r["mean_returned"] < k:
                notes.append(f"{name} {r['setting']}: only {r['mean_returned']:.2f} rows returned "
                             f"per query on average (k = {k})")
        rec = [r["recall"] for r in side["settings"] if r["recall"] is not None]
        if len(rec) > 2 and max(rec) - min(rec) < 1e-9:
            notes.append(f"{name}: recall is the same at every setting: is the setting "
                         f"({side['settings'][0]['knob']}) honoured by the index?")
        plans = {r["plan_scan_line"] for r in side["settings"] if r["plan_scan_line"]}
        if plans:
            notes.append(f"{name} plan: {sorted(plans)[0]}")
        if side["rounds"] > 1 and len(side["build_seconds_all"]) > 1:
            b = side["build_seconds_all"]
            notes.append(f"{name} build times over rounds: " + ", ".join(f"{x:.2f}" for x in b) + " s")
    if notes:
        L += ["## notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(L)


if __name__ == "__main__":
    main()
