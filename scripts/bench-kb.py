"""Peers for `parley bench kb-search`: the same chunks and queries (written by --export) searched
for the top 10 by BM25 with SQLite FTS5 through Python's sqlite3 (bm25(), one MATCH of the terms
OR-ed, LIMIT 10) and with bm25s (its default Lucene-style BM25, k1 1.5, b 0.75, numpy backend).
Prints one JSON line per peer with p50/p95 in milliseconds.
    python scripts/bench-kb.py DIR"""
import json
import os
import re
import sqlite3
import statistics
import sys
import time

STOP = set("""a an and are as at be but by can could do does did for from had has have how i if in into is it its me my no not of
on or our please so that the their them then there these they this to was we were what when where which who why will with would
you your about tell know want need get s t am any some all more than""".split())


def terms(q):
    seen, out = set(), []
    for t in re.findall(r"[a-z0-9]+", q.lower()):
        if t not in seen and t not in STOP:
            seen.add(t)
            out.append(t)
    return out


def pct(values, p):
    s = sorted(values)
    return round(s[int(round((len(s) - 1) * p))] * 1000, 3)


def main(d):
    corpus = open(os.path.join(d, "corpus.txt")).read().splitlines()
    queries = open(os.path.join(d, "queries.txt")).read().splitlines()
    path = os.path.join(d, "fts.db")
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    t0 = time.perf_counter()
    db.execute("CREATE VIRTUAL TABLE fts USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')")
    with db:
        db.executemany("INSERT INTO fts (rowid, body) VALUES (?, ?)", ((i + 1, t) for i, t in enumerate(corpus)))
    load = time.perf_counter() - t0
    sql = "SELECT rowid, bm25(fts) AS score FROM fts WHERE fts MATCH ? ORDER BY score LIMIT 10"
    exprs = [" OR ".join('"%s"' % t for t in terms(q)) for q in queries]
    for e in exprs[:20]:
        db.execute(sql, (e,)).fetchall()
    lat = []
    for e in exprs:
        t = time.perf_counter()
        db.execute(sql, (e,)).fetchall()
        lat.append(time.perf_counter() - t)
    print(json.dumps({"peer": "sqlite-fts5-python", "sqlite": sqlite3.sqlite_version, "chunks": len(corpus), "queries": len(queries),
                      "load_s": round(load, 1), "p50_ms": pct(lat, 0.5), "p95_ms": pct(lat, 0.95)}), flush=True)
    db.close()
    os.remove(path)

    import bm25s
    t0 = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, stopwords=None, show_progress=False), show_progress=False)
    load = time.perf_counter() - t0
    tokenized = [bm25s.tokenize([" ".join(terms(q))], stopwords=None, show_progress=False, return_ids=False) for q in queries]
    for tq in tokenized[:20]:
        retriever.retrieve(tq, k=10, show_progress=False)
    lat = []
    for q in queries:
        t = time.perf_counter()
        tq = bm25s.tokenize([" ".join(terms(q))], stopwords=None, show_progress=False, return_ids=False)
        retriever.retrieve(tq, k=10, show_progress=False)
        lat.append(time.perf_counter() - t)
    print(json.dumps({"peer": "bm25s", "version": bm25s.__version__, "chunks": len(corpus), "queries": len(queries),
                      "load_s": round(load, 1), "p50_ms": pct(lat, 0.5), "p95_ms": pct(lat, 0.95)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
