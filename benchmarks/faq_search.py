"""FAQ search cost per query: dense (FAISS) alone against hybrid (FAISS + BM25, fused).

The bot's own ``FaqIndex`` is searched one query at a time in one thread, as the runtime does
(after the encoder has run: its cost is in ``latency.md``). The vectors come from the hashing
encoder at the bundled MiniLM's 384 dimensions: the cost of a search depends on how many
vectors there are and their dimension, not on what they mean. FAQ sets: the English and the
Chinese demo (``knowledge/demo``) with their labelled messages, and atec_faq's 2,000 entries with
its 500 test queries. Also timed: building the lexical half, and one entry's edit
(``FaqIndex.update``: its vectors and its lexical documents).

Example::

    .venv/bin/python benchmarks/faq_search.py --data ../shared/data --out benchmarks/results
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_name, git_commit  # noqa: E402
from knowledge.faq.entry import FaqEntry  # noqa: E402
from knowledge.faq.formats import read_faq_file  # noqa: E402
from knowledge.faq.hashing import HashingEncoder  # noqa: E402
from knowledge.faq.index import FaqIndex  # noqa: E402
from knowledge.faq.lexical import LexicalIndex  # noqa: E402

DIMENSION = 384  # all-MiniLM-L6-v2's
WEIGHT = 0.5  # any weight above 0 costs the same
ROUNDS = 5


def read_rows(path: Path, *columns: str) -> list[tuple[str, ...]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [tuple(row[c] for c in columns) for row in csv.DictReader(handle)]


def faq_sets(data: Path) -> dict[str, tuple[list[FaqEntry], list[str]]]:
    """name -> (entries, query texts)."""
    demo = ROOT / "knowledge" / "demo"
    atec = data / "atec_faq"
    return {
        "demo (English)": (read_faq_file(demo / "faq.yaml").entries, [q for q, in read_rows(demo / "queries.csv", "query")]),
        "demo (Chinese)": (read_faq_file(demo / "zh" / "faq.yaml").entries,
                           [q for q, in read_rows(demo / "zh" / "queries.csv", "query")]),
        "atec_faq": ([FaqEntry(i, q, a) for i, q, a in read_rows(atec / "faq.csv", "faq_id", "question", "answer")],
                     [q for q, in read_rows(atec / "queries_test.csv", "query")]),
    }  # fmt: skip


def per_call_us(call: Callable[[int], object], count: int) -> list[float]:
    """Microseconds of each of ``ROUNDS`` x ``count`` calls ``call(i)``."""
    times = []
    for _ in range(ROUNDS):
        for i in range(count):
            started = time.perf_counter_ns()
            call(i)
            times.append((time.perf_counter_ns() - started) / 1000)
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"p50_us": round(statistics.median(ordered), 1), "p99_us": round(ordered[int(0.99 * (len(ordered) - 1))], 1),
            "mean_us": round(statistics.fmean(ordered), 1)}  # fmt: skip


def measure(entries: list[FaqEntry], queries: list[str]) -> dict[str, object]:
    encoder = HashingEncoder(DIMENSION)
    started = time.perf_counter()
    index = FaqIndex.build(entries, encoder, faq_revision=1, lexical_weight=WEIGHT)
    build_s = time.perf_counter() - started
    vectors = encoder.encode(queries)  # [queries, 384]
    texts = dict(enumerate(p for e in entries for p in e.phrasings()))
    lexical_build = per_call_us(lambda _: LexicalIndex().add(texts), 1)
    lexical_index = LexicalIndex()
    lexical_index.add(texts)
    dense = per_call_us(lambda i: index.search(vectors[i], k=3), len(queries))
    hybrid = per_call_us(lambda i: index.search(vectors[i], k=3, text=queries[i]), len(queries))
    lexical = per_call_us(lambda i: lexical_index.scores(queries[i], len(texts)), len(queries))
    edited = entries[len(entries) // 2]
    changed = edited.with_changes(alternatives=(*edited.alternatives, "one more way to ask"))
    update = per_call_us(lambda _: index.copy().update([edited.faq_id], [changed], encoder, 2), 1)
    return {
        "entries": len(entries), "phrasings": index.header.count, "queries": len(queries),
        "dense": summary(dense), "hybrid": summary(hybrid), "lexical_scores": summary(lexical),
        "hybrid_extra_p50_us": round(statistics.median(hybrid) - statistics.median(dense), 1),
        "build_index_s": round(build_s, 3), "build_lexical_ms": round(statistics.median(lexical_build) / 1000, 1),
        "edit_one_entry_ms": round(statistics.median(update) / 1000, 1),
    }  # fmt: skip


def render(result: dict[str, object]) -> str:
    lines = ["# FAQ search cost per query: dense alone vs hybrid", "",
             f"Made by `benchmarks/faq_search.py` at commit `{result['commit']}` on {result['cpu']} "
             f"({result['cores']} logical CPUs, shared with other work: 1-minute load average {result['load_before']} "
             f"before, {result['load_after']} after), one thread, {ROUNDS} rounds over each query set.", "",
             "Microseconds per query for `FaqIndex.search(vector, k=3)` after the encoder ran (its cost: "
             "[latency.md](latency.md)); hybrid adds the query text: BM25 over the lexical half, fused with every "
             "phrasing's cosine.", "",
             "| FAQ | entries | phrasings | queries | dense p50 | dense p99 | hybrid p50 | hybrid p99 | of which BM25 p50 "
             "| hybrid extra p50 | build lexical half ms | edit one entry ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for name, row in result["sets"].items():
        lines.append(f"| {name} | {row['entries']} | {row['phrasings']} | {row['queries']} | {row['dense']['p50_us']} | "
                     f"{row['dense']['p99_us']} | {row['hybrid']['p50_us']} | {row['hybrid']['p99_us']} | "
                     f"{row['lexical_scores']['p50_us']} | {row['hybrid_extra_p50_us']} | {row['build_lexical_ms']} | "
                     f"{row['edit_one_entry_ms']} |")  # fmt: skip
    lines += ["", "Notes",
              "- Dense search asks FAISS for a few candidates; hybrid scores every phrasing (a flat index computes "
              "every cosine anyway) and sorts the fused scores, so its cost grows with the phrasings, like FAISS's own.",
              "- `edit one entry`: a copy of the index (the runtime searches the old one meanwhile) with one "
              "entry's vectors and lexical documents replaced; the lexical half's postings are rebuilt."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    result: dict[str, object] = {"cpu": cpu_name(), "cores": os.cpu_count(), "commit": git_commit(("knowledge", "benchmarks")),
                                 "load_before": round(os.getloadavg()[0], 2),
                                 "ran_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
    result["sets"] = {name: measure(entries, queries) for name, (entries, queries) in faq_sets(args.data).items()}
    result["load_after"] = round(os.getloadavg()[0], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "faq_search.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    (args.out / "faq_search.md").write_text(render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
