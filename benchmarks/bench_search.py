"""Ranked full-text search over 100,000 synthetic practices, through the running Datasette server.

Target: p95 under 50 ms for the `search_practices` canned query (JSON), for a rare and a common
term. Each term is also timed through the same server with the query as it was before ranking
was windowed (bm25 over every match, `FULL_BM25`): the comparison. Prints a table and writes
benchmarks/results/search.json.

    python benchmarks/bench_search.py [--rows 100000] [--runs 40]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
import urllib.parse
import urllib.request
from pathlib import Path

from goodpractice import knowledge, publish

_TEXT = ("patrol response burglary robbery custody charge detection victim witness neighbourhood "
         "team briefing tasking intelligence analyst forensic review visit pilot borough force "
         "youth school partnership licensing night economy transport road collision speed drugs "
         "supply market warrant arrest caution diversion cadets volunteers "
         "problem solving repeat location offender management domestic abuse safeguarding "
         "referral missing person exploitation gang knife weapon stop search community "
         "confidence survey satisfaction complaint training supervision shift roster demand "
         "call handling triage attendance scene evidence file quality prosecution court")
WORDS = _TEXT.split()
RARE = "lighthouse"     # in 25 rows
COMMON = "mentoring"    # in 10% of rows
EVERYWHERE = "policing"  # in every row (FTS5 floors its idf, so it barely ranks)
HALF = "patrol"         # one of WORDS: in ~45% of summaries and ~9% of titles/tags
TWO = "patrol youth"    # two words of WORDS: an AND of two long doclists
# The canned query before windowing: bm25 over every match (run as arbitrary read-only SQL).
FULL_BM25 = """with hits as (select rowid, rank from practices_fts
  where practices_fts match coalesce(nullif(escape_fts(:q), ''), '""') order by rank limit 50)
select p.id as practice, p.title, p.summary, p.element, p.unit, p.status, p.evidence_rating,
       p.review_html, round(hits.rank, 3) as rank
from hits join practices p on p.rowid = hits.rowid order by hits.rank"""


def build(path: Path, rows: int, rare_rows: int = 25, seed: int = 1) -> float:
    rng = random.Random(seed)
    rare_at = set(rng.sample(range(rows), rare_rows))
    common_at = set(rng.sample(range(rows), rows // 10))
    db = knowledge.open_kb(path)
    start = time.perf_counter()

    def records():
        for i in range(rows):
            words = rng.choices(WORDS, k=60)
            if i in rare_at:
                words[rng.randrange(60)] = RARE
            if i in common_at:
                words[rng.randrange(60)] = COMMON
            summary = " ".join(words) + f". {EVERYWHERE} practice number {i}."
            yield {"id": f"p{i:06d}", "title": " ".join(rng.choices(WORDS, k=6)).capitalize(),
                   "summary": summary, "status": "candidate", "source": "review",
                   "evidence_rating": "limited", "tags": json.dumps(rng.sample(WORDS, 3))}

    def run(db):
        db["practices"].insert_all(records(), batch_size=2000)

    knowledge.write(db, run)
    knowledge.checkpoint(db)
    db.close()
    return time.perf_counter() - start


def time_http(base: str, term: str, runs: int, sql: str | None = None) -> list[float]:
    q = urllib.parse.quote(term)
    url = (f"{base}/goodpractice/search_practices.json?q={q}&_shape=array" if sql is None else
           f"{base}/goodpractice.json?sql={urllib.parse.quote(sql)}&q={q}&_shape=array")
    out = []
    for i in range(runs + 3):
        t = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = resp.read()
        if i >= 3:  # first requests warm the page cache and Datasette's introspection
            out.append((time.perf_counter() - t) * 1000)
    assert json.loads(body), f"no hits for {term}"
    return out


def time_inprocess(path: Path, term: str, runs: int) -> list[float]:
    db = knowledge.open_kb(path)
    out = []
    for i in range(runs + 3):
        t = time.perf_counter()
        knowledge.search(db, term, limit=50)
        if i >= 3:
            out.append((time.perf_counter() - t) * 1000)
    db.close()
    return out


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[-1]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args([] if argv is None else argv)  # `python -m benchmarks` passes none
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "goodpractice.db"
        tracemalloc.start()
        build_s = build(path, args.rows)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size_mb = path.stat().st_size / 1e6
        results = []
        with publish.running_server(path) as base:
            for label, term in (("rare (25 rows)", RARE), ("common (10% of rows)", COMMON),
                                ("~45% of rows", HALF), ("two words", TWO),
                                ("in every row", EVERYWHERE)):
                http = time_http(base, term, args.runs)
                before = time_http(base, term, args.runs, FULL_BM25)
                local = time_inprocess(path, term, args.runs)
                results.append({
                    "what": f"search_practices, {label}",
                    "term": term,
                    "rows": args.rows,
                    "http_median_ms": round(statistics.median(http), 2),
                    "http_p95_ms": round(p95(http), 2),
                    "full_bm25_http_median_ms": round(statistics.median(before), 2),
                    "full_bm25_http_p95_ms": round(p95(before), 2),
                    "ratio_full_bm25_to_windowed_p95": round(p95(before) / p95(http), 2),
                    "inprocess_median_ms": round(statistics.median(local), 2),
                    "target_p95_ms": 50,
                    "meets_target": p95(http) < 50,
                })
        server_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    record = {"benchmark": "search", "rows": args.rows, "runs": args.runs,
              "build_s": round(build_s, 2), "build_peak_tracemalloc_mb": round(peak / 1e6, 1),
              "db_size_mb": round(size_mb, 1), "server_peak_rss_mb": round(server_peak_mb, 1),
              "results": results}
    print(f"built {args.rows:,} practices in {build_s:.1f} s ({size_mb:.0f} MB, "
          f"peak {peak / 1e6:.0f} MB traced); server peak RSS {server_peak_mb:.0f} MB")
    print(f"{'what':<38}{'rows':>9}{'median ms':>11}{'p95 ms':>9}{'full bm25 p95':>15}"
          f"{'ratio':>7}{'in-proc ms':>12}{'< 50 ms':>9}")
    for r in results:
        print(f"{r['what']:<38}{r['rows']:>9,}{r['http_median_ms']:>11.1f}{r['http_p95_ms']:>9.1f}"
              f"{r['full_bm25_http_p95_ms']:>15.1f}{r['ratio_full_bm25_to_windowed_p95']:>7.2f}"
              f"{r['inprocess_median_ms']:>12.1f}{'yes' if r['meets_target'] else 'NO':>9}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "search.json").write_text(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main(sys.argv[1:])
