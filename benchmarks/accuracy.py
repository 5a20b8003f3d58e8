"""Accuracy benchmark: fine-tuned models against baselines from the same run, on public data.

Runs, dataset by dataset, with the default training arguments (what ``supportbot train``
uses): BANKING77 and CLINC150 and HINT3 sofmattress (intents; baseline TF-IDF word 1-2 +
char 2-5 grams with logistic regression, trained on the same split and calibrated the same
way) and StackFAQ (retriever, ranked by the bot's hybrid search; baselines BM25 via rank-bm25
and the un-tuned base encoder). atec_faq (Chinese FAQ retrieval) trains the retriever with
``ATEC_ARGS`` and compares the pieces of hybrid search on its test queries, each calibrated on
the checkpoint's held-out queries as training calibrates the bot: the fine-tuned encoder
alone, BM25 alone, the fused score at the weight training chose, reciprocal-rank fusion, and
the un-tuned encoder alone and fused.
Results are merged into ``accuracy.json`` (keyed by dataset name), so ``--only`` reruns
one dataset and keeps the others; ``accuracy.md`` is rebuilt from the JSON.

Example::

    .venv/bin/python benchmarks/accuracy.py --data ../shared/data --out benchmarks/results
    .venv/bin/python benchmarks/accuracy.py --only stackfaq
    .venv/bin/python benchmarks/accuracy.py --only atec_faq --reuse   # evaluate the trained checkpoint again
    .venv/bin/python benchmarks/accuracy.py --joint hint3_sofmattress   # one encoder for HINT3 + StackFAQ
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_name, git_commit  # noqa: E402
from bot.models.manifest import RetrievalThresholds  # noqa: E402
from training.args import IntentTrainingArgs, RetrieverTrainingArgs  # noqa: E402
from training.calibration import calibrate_answer, calibrate_with_oos, calibrate_without_oos  # noqa: E402
from training.checkpoint import load_intent_predictor, load_retriever_encoder  # noqa: E402
from training.data import read_faq, read_intents, read_queries  # noqa: E402
from training.evaluation import evaluate_faq, evaluate_intents, intent_metrics  # noqa: E402
from training.intents import prepare_splits, train_intents  # noqa: E402
from training.report import write_faq_report, write_intent_report  # noqa: E402

INTENT_SETS = {  # name: (folder, has a validation file)
    "banking77": ("banking77", False),
    "clinc150": ("clinc150", True),
    "hint3_sofmattress": ("hint3/sofmattress", False),
}
AT_MOST = "at most"
TARGETS = {  # dataset: [(metric, bound, how it is compared: None = at least, AT_MOST, or a baseline's name)]
    "banking77": [("accuracy", 0.932, None), ("in_scope_rejected", 0.04, AT_MOST)],
    "clinc150": [("in_scope_accuracy", 0.966, None), ("oos_auroc", 0.98, None), ("oos_recall", 0.90, None)],
    "hint3_sofmattress": [("mcc", 0.70, None)],
    "stackfaq": [("map", 0.985, None), ("recall_at_1", 0.98, None), ("recall_at_1", 0.05, "base_encoder")],
    "atec_faq": [("recall_at_1", 0.40, None), ("answered_precision", 0.90, None)],
}
# atec_faq: the bundled MiniLM reads most Chinese characters as [UNK]; training adds them to its
# vocabulary (training/vocabulary.py) and their fresh embeddings need more steps at a higher rate
# than the English defaults. The answers are placeholders that repeat the question: "question".
# Intent sets trained with more than the defaults: keeping the pre-trained geometry
# (``--preserve-base 1``, docs/checkpoints.md); on HINT3 since the threshold without real
# out-of-scope rows assumes a quarter of them (benchmarks/results/preserve_base.md).
INTENT_ARGS = {name: IntentTrainingArgs(preserve_base=1.0) for name in ("banking77", "clinc150", "hint3_sofmattress")}
ATEC_ARGS = RetrieverTrainingArgs(epochs=8, learning_rate=1e-4, hard_negatives=False, document="question")
RRF_K = 60  # reciprocal-rank fusion's constant (Cormack et al. 2009)
FAQ_METRICS = ("recall_at_1", "recall_at_5", "mrr", "map")
FAQ_SETS = ("stackfaq", "atec_faq")


def machine() -> dict[str, object]:
    """CPU model, cores and accelerator of this machine."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu}


def commit() -> str:
    """The git commit, with "+dirty" when training/ or this script have uncommitted changes."""
    return git_commit(("training", "benchmarks/accuracy.py"))


def tfidf_baseline(name: str, train_path: Path, valid_path: Path | None, test_path: Path) -> dict[str, float]:
    """TF-IDF + logistic regression on the model's own split, calibrated by the same rule."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    args = IntentTrainingArgs()
    splits = prepare_splits(train_path, valid_path, args)
    started = time.monotonic()
    features = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
    )
    model = make_pipeline(features, LogisticRegression(C=10.0, max_iter=2000))
    model.fit([r.text for r in splits.train], [r.label for r in splits.train])
    seconds = time.monotonic() - started
    labels = list(model.classes_)

    def logits(texts: list[str]) -> np.ndarray:  # log-probabilities: softmax gives the probabilities back
        return np.log(np.clip(model.predict_proba(texts), 1e-12, None))

    valid_logits = logits([r.text for r in splits.valid + splits.oos])
    if splits.oos:
        is_oos = np.arange(len(valid_logits)) >= len(splits.valid)
        correct = np.zeros(len(valid_logits), bool)
        correct[: len(splits.valid)] = [labels[i] == r.label for i, r in zip(valid_logits.argmax(1), splits.valid)]
        rule = calibrate_with_oos(valid_logits, correct, is_oos, "max_softmax")
    else:
        gold = np.array([labels.index(r.label) for r in splits.valid])
        rule = calibrate_without_oos(valid_logits, gold, "max_softmax")
    test = read_intents(test_path)
    test_logits = logits([r.text for r in test])
    scores = rule.scores(test_logits)
    top1 = [labels[i] for i in test_logits.argmax(1)]
    decided = [t if keep else args.oos_label for t, keep in zip(top1, rule.in_scope(test_logits))]
    metrics = intent_metrics([r.label for r in test], top1, decided, scores, args.oos_label)
    return {**metrics, "train_seconds": round(seconds, 1)}


def oracle_mcc(result) -> float:
    """MCC at the best threshold chosen on the test set itself: the protocol of the published
    HINT3 numbers, for comparison only (our own ``mcc`` uses the threshold calibrated in training)."""
    from training.metrics import mcc

    best = 0.0
    for threshold in np.unique(result.scores):
        decided = [t if s >= threshold else result.oos_label for t, s in zip(result.top1, result.scores)]
        best = max(best, mcc(result.gold, decided))
    return round(best, 6)


def intent_files(name: str, data: Path) -> tuple[Path, Path | None, Path]:
    """(train, validation or None, test) CSVs of an intent data set."""
    folder, has_valid = INTENT_SETS[name]
    return data / folder / "train.csv", data / folder / "valid.csv" if has_valid else None, data / folder / "test.csv"


def run_intents(name: str, data: Path, checkpoints: Path, reports: Path, reuse: bool) -> dict[str, object]:
    """Train (or reuse) the checkpoint, evaluate it on test, and run the baseline."""
    train, valid, test = intent_files(name, data)
    out = checkpoints / name
    if not (reuse and out.is_dir()):
        shutil.rmtree(out, ignore_errors=True)
        started = time.monotonic()
        train_intents(train, valid, out, INTENT_ARGS.get(name, IntentTrainingArgs()))
        print(f"[{name}] trained in {time.monotonic() - started:.0f} s", flush=True)
    baseline = tfidf_baseline(name, train, valid, test)
    return {**evaluate_intent_checkpoint(name, out, test, reports), "baselines": {"tfidf_lr": baseline}}


def evaluate_intent_checkpoint(name: str, out: Path, test: Path, reports: Path) -> dict[str, object]:
    saved = json.loads((out / "supportbot_intents.json").read_text())
    meta, predict = load_intent_predictor(out)
    result = evaluate_intents(predict, meta, read_intents(test))
    write_intent_report(reports / name, result, f"{name} test", {"checkpoint": str(out)})
    if "oos_recall" in result.metrics:
        result.metrics["mcc_oracle_threshold"] = oracle_mcc(result)
    return {**result.metrics, "train_seconds": saved["metrics"]["train_seconds"], "oos_rule": saved["oos"]}


def run_joint(name: str, data: Path, checkpoints: Path, reports: Path, reuse: bool,
              earlier: dict[str, dict[str, object]]) -> dict[str, object]:
    """One encoder trained on the intent set ``name`` and StackFAQ together (``supportbot train
    joint``), evaluated on both test sets. Baselines: the separately trained models and the
    baselines of their own rows (from ``earlier`` results, same data and code)."""
    from training.joint import JointInputs, train_joint

    missing = [n for n in (name, "stackfaq") if n not in earlier]
    if missing:
        raise SystemExit(f"run the separate models first (--only {' --only '.join(missing)}): they are the comparison")
    train, valid, test = intent_files(name, data)
    out = checkpoints / f"joint_{name}"
    if not (reuse and out.is_dir()):
        shutil.rmtree(out, ignore_errors=True)
        started = time.monotonic()
        inputs = JointInputs(train, valid, data / "stackfaq" / "faq.csv", data / "stackfaq" / "queries_train.csv")
        train_joint(inputs, out, INTENT_ARGS.get(name, IntentTrainingArgs()), RetrieverTrainingArgs())
        print(f"[joint {name}] trained in {time.monotonic() - started:.0f} s", flush=True)
    intents = evaluate_intent_checkpoint(f"joint_{name}", out / "intents", test, reports)
    faq = evaluate_stackfaq(data, out / "retriever", reports / f"joint_{name}_stackfaq")[0]
    separate = {**{k: v for k, v in earlier[name].items() if isinstance(v, float)},
                **{k: v for k, v in earlier["stackfaq"].items() if k in FAQ_METRICS},
                "train_seconds": earlier[name]["train_seconds"] + earlier["stackfaq"]["train_seconds"]}
    baselines = {"separate_models": separate, **earlier[name]["baselines"], **earlier["stackfaq"]["baselines"]}
    return {**intents, **{k: v for k, v in faq.items() if k in (*FAQ_METRICS, "answered", "answered_precision")},
            "baselines": baselines}


def bm25_metrics(entries, queries, document: str) -> dict[str, float]:
    """BM25 (rank-bm25, Okapi) over lower-cased word tokens of each entry's document."""
    from rank_bm25 import BM25Okapi

    from knowledge.faq.documents import document_text
    from training.metrics import mean_average_precision, mean_reciprocal_rank, recall_at_k

    tokenize: Callable[[str], list[str]] = lambda text: re.findall(r"\w+", text.lower())  # noqa: E731
    docs = [tokenize(" ".join(document_text(p, e.answer, document) for p in e.phrasings())) for e in entries]
    bm25 = BM25Okapi(docs)
    ids = [e.faq_id for e in entries]
    rankings = [[ids[j] for j in np.argsort(-bm25.get_scores(tokenize(q.query)), kind="stable")] for q in queries]
    relevant = [{q.faq_id} for q in queries]
    return {"recall_at_1": recall_at_k(rankings, relevant, 1), "recall_at_5": recall_at_k(rankings, relevant, 5),
            "mrr": mean_reciprocal_rank(rankings, relevant), "map": mean_average_precision(rankings, relevant)}  # fmt: skip


def run_stackfaq(data: Path, checkpoints: Path, reports: Path, reuse: bool) -> dict[str, object]:
    """Train (or reuse) the retriever, evaluate on the test queries, run BM25 and the base encoder."""
    from training.checkpoint import sentence_encoder
    from training.encoder import resolve_base_model
    from training.retriever import train_retriever

    out = checkpoints / "stackfaq"
    if not (reuse and out.is_dir()):
        shutil.rmtree(out, ignore_errors=True)
        train_retriever(data / "stackfaq" / "faq.csv", data / "stackfaq" / "queries_train.csv", out,
                        RetrieverTrainingArgs())
    evaluated, entries, test, meta = evaluate_stackfaq(data, out, reports / "stackfaq")
    base = sentence_encoder(resolve_base_model("")[0], RetrieverTrainingArgs().max_length)
    baselines: dict[str, dict[str, float]] = {}
    for document in ("question", "question_answer"):
        baselines[f"bm25_{document}"] = bm25_metrics(entries, test, document)
        plain = evaluate_faq(base, document, RetrievalThresholds(1.0, 0.0, ""), entries, test).metrics
        baselines[f"base_encoder_{document}"] = {k: plain[k] for k in FAQ_METRICS}
    baselines["base_encoder"] = baselines[f"base_encoder_{meta.document}"]
    baselines["dense_alone"] = {k.removeprefix("dense_"): evaluated[k] for k in ("dense_recall_at_1", "dense_mrr")}
    baselines["bm25_hybrid_half"] = {k.removeprefix("lexical_"): evaluated[k]
                                     for k in ("lexical_recall_at_1", "lexical_mrr")}
    return {**evaluated, "baselines": baselines}


def run_atec(data: Path, checkpoints: Path, reports: Path, reuse: bool) -> dict[str, object]:
    """Train (or reuse) the atec_faq retriever, evaluate it as the bot searches, and compare the pieces."""
    from training.checkpoint import sentence_encoder
    from training.encoder import resolve_base_model
    from training.retriever import train_retriever

    folder, out = data / "atec_faq", checkpoints / "atec_faq"
    if not (reuse and out.is_dir()):
        shutil.rmtree(out, ignore_errors=True)
        train_retriever(folder / "faq.csv", folder / "queries_train.csv", out, ATEC_ARGS)
    saved = json.loads((out / "supportbot_retriever.json").read_text())
    entries = read_faq(folder / "faq.csv")
    ids = {e.faq_id for e in entries}
    test, held = read_queries(folder / "queries_test.csv", ids), read_queries(out / "heldout_queries.csv", ids)
    meta, encode = load_retriever_encoder(out)
    result = evaluate_faq(encode, meta.document, meta.thresholds, entries, test, meta.lexical_weight)
    write_faq_report(reports / "atec_faq", result, "atec_faq test", {"checkpoint": str(out)})
    base = sentence_encoder(resolve_base_model("")[0], ATEC_ARGS.max_length)
    variants = {**search_variants("fine_tuned", encode, entries, held, test, meta.document, meta.lexical_weight),
                **search_variants("base_encoder", base, entries, held, test, meta.document, None)}
    return {**result.metrics, "document": meta.document, "thresholds": saved["thresholds"],
            "train_seconds": saved["metrics"]["train_seconds"], "vocabulary_added": saved["metrics"]["vocabulary_added"],
            "training_args": {"epochs": ATEC_ARGS.epochs, "learning_rate": ATEC_ARGS.learning_rate,
                              "hard_negatives": ATEC_ARGS.hard_negatives, "document": ATEC_ARGS.document},
            "variants": variants, "baselines": {name: v for name, v in variants.items() if name != "fine_tuned_hybrid"}}


def search_variants(name: str, encode, entries, held, test, document: str, weight: float | None) -> dict[str, dict[str, float]]:
    """One encoder's ways to search, each calibrated on ``held`` and measured on ``test``:
    dense alone, BM25 alone (once, under the fine-tuned name), fused at ``weight`` (None: chosen
    on ``held`` as training chooses), and reciprocal-rank fusion; plus a sweep of fixed weights."""
    from training.fusion import choose_lexical_weight
    from training.ranking import PhrasingScores, phrasing_scores

    both = phrasing_scores(encode, entries, [q.query for q in [*held, *test]], document)
    split = len(held)
    held_scores, test_scores = (PhrasingScores(both.dense[rows], both.lexical[rows], both.doc_ids)
                                for rows in (slice(0, split), slice(split, None)))
    if weight is None:
        weight = choose_lexical_weight(held_scores, [q.faq_id for q in held]).weight
    ways = {f"{name}_dense": ("weighted", 0.0), f"{name}_hybrid": ("weighted", weight), f"{name}_rrf": ("rrf", 0.0)}
    if name == "fine_tuned":
        ways["bm25"] = ("weighted", 1.0)
    variants = {}
    for label, (how, w) in ways.items():
        variants[label] = measure_variant(how, w, held_scores, held, test_scores, test)
    sweep = {f"{w:.1f}": measure_variant("weighted", w, held_scores, held, test_scores, test)
             for w in np.round(np.linspace(0, 1, 11), 1)}
    variants[f"{name}_weight_sweep"] = {f"recall_at_1@{w}": m["recall_at_1"] for w, m in sweep.items()}
    return variants


def measure_variant(how: str, weight: float, held_scores, held, test_scores, test) -> dict[str, float]:
    """Rank held-out and test queries one way, calibrate (answer, margin) on held-out, score test."""
    from training.metrics import mean_average_precision, mean_reciprocal_rank, recall_at_k

    def ranking(scores):
        from training.ranking import FaqRanking, best_per_entry, rank_scores

        if how == "weighted":
            return rank_scores(scores, weight)
        ids, dense = best_per_entry(scores.dense, scores.doc_ids)
        _, lexical = best_per_entry(scores.lexical, scores.doc_ids)
        rrf = sum(1.0 / (RRF_K + np.argsort(np.argsort(-m, axis=1, kind="stable"), axis=1) + 1) for m in (dense, lexical))
        order = np.argsort(-rrf, axis=1, kind="stable")
        rows = np.arange(len(rrf))
        return FaqRanking([[ids[j] for j in row] for row in order], rrf[rows, order[:, 0]], rrf[rows, order[:, 1]])

    calibration, ranked = ranking(held_scores), ranking(test_scores)
    right = [r[0] == q.faq_id for r, q in zip(calibration.ranked_ids, held)]
    thresholds = calibrate_answer(calibration.top_scores, calibration.second_scores, right, ATEC_ARGS.target_precision)
    answered = (ranked.top_scores >= thresholds.answer) & (ranked.top_scores - ranked.second_scores >= thresholds.margin)
    correct = np.asarray([r[0] == q.faq_id for r, q in zip(ranked.ranked_ids, test)])
    relevant = [{q.faq_id} for q in test]
    metrics = {"recall_at_1": recall_at_k(ranked.ranked_ids, relevant, 1), "recall_at_5": recall_at_k(ranked.ranked_ids, relevant, 5),
               "mrr": mean_reciprocal_rank(ranked.ranked_ids, relevant), "map": mean_average_precision(ranked.ranked_ids, relevant),
               "answered": float(answered.mean()), "answered_precision": float(correct[answered].mean()) if answered.any() else 0.0,
               **({"lexical_weight": weight} if how == "weighted" else {})}  # fmt: skip
    gap = ranked.top_scores - ranked.second_scores
    for share in (10, 5):  # how well each confidence signal picks right answers: precision of its top share
        metrics[f"precision_top{share}pct_by_score"] = float(correct[_top_share(ranked.top_scores, share)].mean())
        metrics[f"precision_top{share}pct_by_gap"] = float(correct[_top_share(gap, share)].mean())
    return {k: round(float(v), 4) for k, v in metrics.items()}


def _top_share(values: np.ndarray, percent: int) -> np.ndarray:
    """A mask of the ``percent`` % highest ``values`` (ties broken by position)."""
    order = np.argsort(-values, kind="stable")[: max(1, round(len(values) * percent / 100))]
    mask = np.zeros(len(values), bool)
    mask[order] = True
    return mask


def evaluate_stackfaq(data: Path, out: Path, report: Path):
    """A retriever checkpoint on the StackFAQ test queries: (metrics, entries, test queries, meta)."""
    saved = json.loads((out / "supportbot_retriever.json").read_text())
    entries = read_faq(data / "stackfaq" / "faq.csv")
    test = read_queries(data / "stackfaq" / "queries_test.csv", {e.faq_id for e in entries})
    meta, encode = load_retriever_encoder(out)
    result = evaluate_faq(encode, meta.document, meta.thresholds, entries, test, meta.lexical_weight)
    write_faq_report(report, result, "stackfaq test", {"checkpoint": str(out)})
    return {**result.metrics, "document": meta.document, "thresholds": saved["thresholds"],
            "train_seconds": saved["metrics"]["train_seconds"]}, entries, test, meta  # fmt: skip


def check_targets(name: str, entry: dict[str, object]) -> list[dict[str, object]]:
    """Each target with the value reached and whether it is met (a joint row: both data sets' targets)."""
    checks = []
    targets = TARGETS[name] if name in TARGETS else TARGETS[name.split(":")[1].split("+")[0]] + TARGETS["stackfaq"]
    for metric, bound, relative_to in targets:
        if metric not in entry:
            continue
        value = float(entry[metric])
        if relative_to == AT_MOST:
            goal, met = f"<= {bound}", value <= bound
        elif relative_to:
            reference = float(entry["baselines"][relative_to][metric])
            goal = f">= {relative_to} + {bound:.2f} ({reference + bound:.4f})"
            met = value >= reference + bound
        else:
            goal, met = f">= {bound}", value >= bound
        checks.append({"metric": metric, "target": goal, "value": round(value, 4), "met": met})
    return checks


def render(results: dict[str, dict[str, object]]) -> str:
    """The Markdown table of every dataset in ``results``."""
    lines = ["# Accuracy benchmark", "",
             "Made by `benchmarks/accuracy.py` (default training arguments, but `INTENT_ARGS` for BANKING77, "
             "CLINC150 and HINT3: `--preserve-base 1`); test splits of `../shared/data`.", "",
             "| dataset | metric | fine-tuned | baselines (same run) | target | met |", "|---|---|---|---|---|---|"]  # fmt: skip
    for name, entry in results.items():
        baselines = entry["baselines"]
        for check in entry["targets"]:
            metric = check["metric"]
            base = ", ".join(f"{b} {v[metric]:.4f}" for b, v in baselines.items() if metric in v and b != "base_encoder")
            lines.append(f"| {name} | {metric} | {check['value']:.4f} | {base} | {check['target']} | "
                         f"{'yes' if check['met'] else 'NO'} |")  # fmt: skip
    lines += ["", "| dataset | all metrics (fine-tuned) | train seconds | baseline train seconds | machine | commit |",
              "|---|---|---|---|---|---|"]  # fmt: skip
    for name, entry in results.items():
        keys = ("accuracy", "macro_f1", "in_scope_accuracy", "in_scope_accuracy_with_rejection", "oos_recall",
                "oos_precision", "oos_auroc", "mcc", "mcc_oracle_threshold", "in_scope_rejected", *FAQ_METRICS, "answered", "answered_precision",
                "lexical_weight")  # fmt: skip
        shown = ", ".join(f"{k} {entry[k]:.4f}" for k in keys if k in entry)
        base_seconds = ", ".join(f"{b} {v['train_seconds']}" for b, v in entry["baselines"].items() if "train_seconds" in v)
        m = entry["machine"]
        lines.append(f"| {name} | {shown} | {entry['train_seconds']} | {base_seconds or '-'} | "
                     f"{m['cpu']}, {m['cores']} cores{', ' + m['gpu'] if m['gpu'] else ''} | {entry['commit']} |")  # fmt: skip
    for name, entry in results.items():
        if "variants" in entry:
            lines += ["", *render_variants(name, entry)]
    lines += ["", *NOTES]
    return "\n".join(lines) + "\n"


def render_variants(name: str, entry: dict[str, object]) -> list[str]:
    """The pieces of hybrid search side by side, each with thresholds calibrated on held-out queries."""
    columns = ("recall_at_1", "recall_at_5", "mrr", "answered", "answered_precision", "lexical_weight",
               "precision_top5pct_by_score", "precision_top5pct_by_gap")
    lines = [f"{name}: each way to search, calibrated on the checkpoint's held-out queries, on the test queries "
             f"(the bot runs `fine_tuned_hybrid`)", "",
             "| search | recall@1 | recall@5 | MRR | answered | answered precision | lexical weight "
             "| precision of the 5% surest by top score | ... by gap to the second |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    sweeps = []
    for variant, metrics in entry["variants"].items():
        if variant.endswith("_weight_sweep"):
            sweeps.append(f"- `{variant}` (recall@1 by fixed weight): " +
                          ", ".join(f"{k.split('@')[1]}: {v:.3f}" for k, v in metrics.items()))
            continue
        cells = [f"{metrics[c]:.4f}" if c in metrics else "-" for c in columns]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return [*lines, "", *sweeps]


NOTES = [
    "Notes",
    "- `accuracy`, `macro_f1` and `in_scope_accuracy`: top-1 over in-scope test rows (the published "
    "BANKING77/CLINC150 convention). `oos_recall`, `in_scope_accuracy_with_rejection` and `mcc` (all rows, "
    "`oos` as a label) use the out-of-scope threshold calibrated during training on validation data; "
    "`mcc_oracle_threshold` picks the threshold on the test set itself, the protocol of the published HINT3 "
    "numbers (BERT 0.617, Dialogflow 0.638), for comparison only.",
    "- CLINC150 calibrates on its validation file plus the training file's `oos` rows (never trained on); "
    "HINT3 and BANKING77 have no `oos` rows to calibrate on: each in-scope validation row is scored "
    "a second time without its own intent's logit, as a simulated out-of-scope message, and the "
    "threshold maximises the accuracy expected when a quarter of the messages are out of scope (in-scope "
    "accuracy weighted 3 to 1; `SIMULATED_OOS_SHARE`, since 0bcb375; the baseline is calibrated the same "
    "way). Until then it maximised balanced accuracy, which refused too many in-scope questions: BANKING77 "
    "at a30e76a (same training) rejected 6.98% of them (accuracy 0.9438), now 3.41%. The rule alone, applied "
    "to saved checkpoints without retraining: BANKING77 test rejections 7.0% -> 3.2%; HINT3 test MCC "
    "unchanged on six of eight checkpoints and raised on two (trained with `--preserve-base 1`: 0.5747 -> "
    "0.6615, 0.6080 -> 0.6969). BANKING77's row before a30e76a was measured with an earlier rule (the "
    "lowest 10% of in-scope validation scores rejected): accuracy 0.9321, in-scope rejected 8.31%.",
    "- StackFAQ ranks the 125 FAQ entries (one relevant per query, so MAP = MRR); `base_encoder` is the "
    "un-tuned model with the same document choice (`question`); BM25 is rank-bm25 Okapi. From commit 24ece17 on "
    "the row is ranked by the bot's hybrid search (cosine and the index's own BM25 fused at the weight training "
    "chose on its held-out queries, thresholds calibrated on the fused scores); `dense_alone` and "
    "`bm25_hybrid_half` are its two halves alone. Rows before it are dense search alone.",
    "- atec_faq: 2,000 Chinese FAQ entries of a payment service (many near-duplicates of each other), 500 test "
    "queries, all of entries no training query belongs to. The retriever is the bundled MiniLM with the Chinese "
    "characters of the FAQ and training queries that it read as [UNK] added to its vocabulary "
    "(`training/vocabulary.py`; `vocabulary_added` in the JSON), fine-tuned with `ATEC_ARGS` (8 epochs at 1e-4, "
    "in-batch negatives, `question` documents: the answers are placeholders). `fine_tuned_hybrid` is what the bot "
    "runs; every row's (answer, margin) is calibrated on the checkpoint's 150 held-out training queries at "
    "target precision 0.9, as training calibrates the bot. `bm25` is the index's lexical half (characters and "
    "character bigrams); `base_encoder_*` is the un-tuned MiniLM (no characters added). Before this work "
    "`supportbot train retriever` + `evaluate faq` gave recall@1 0.072, MRR 0.149 (measured for the issue, not "
    "re-run). Also tried: the same training for 3 epochs on a different 90/10 split (dense recall@1 0.300, "
    "fused 0.316 at its best weight): more epochs did not help; BM25 k1 0.9-2.0 and b 0.3-1.0, unigrams "
    "alone, trigrams added: recall@1 0.246-0.260; one hard negative per pair mined with BM25 (the base model "
    "reads the text as [UNK], so its own mining is random), at 7d96ec1: dense recall@1 0.280, fused 0.286, "
    "answered precision 0.6512 (near-duplicate entries become negatives): not kept.",
    "- atec_faq answered precision: the top score hardly tells a right answer from a wrong one there (the "
    "near-duplicates score alike: compare the precision of the 5% of test queries with the highest top score "
    "and of the 5% with the widest gap to the second entry), and precision 0.9 on the held-out queries is a "
    "handful of them, so the calibrated pair answers few test queries and fewer of them right than calibrated; "
    "the rest get choices or a person.",
    "- `joint:SET+stackfaq` (`--joint SET`): one encoder trained by `supportbot train joint` on the intent set "
    "and StackFAQ together (both losses on every step) and evaluated on both test sets; the bot runs it once "
    "per message instead of running two encoders. `separate_models` is the two rows above it.",
    "- Train seconds: wall clock on a 2-core CPU shared with other jobs (timings varied 2-5x with their load); "
    "CLINC150 ran with OMP_NUM_THREADS=1 for that reason. `+dirty`: run from uncommitted training code, "
    "committed right after.",
    "- Targets: those of the out-of-scope issue (BANKING77 accuracy >= 0.932 with at most 4% of in-scope test "
    "questions rejected; CLINC150 in-scope accuracy >= 0.966, AUROC >= 0.98, oos recall >= 0.90; HINT3 MCC >= "
    "0.70), applied to those three rows, also where they were measured before the targets were set.",
    "- Out-of-scope score: from commit 1fe0858 on, training picks `knn` (nearness to the training examples in "
    "the encoder's space, `bot/models/oos.py`) when its validation AUROC beats max_softmax and energy; "
    "[oos_scores.md](oos_scores.md) compares the scores on the same checkpoints. The hint3_sofmattress row "
    "was for a while the 394043b checkpoint re-calibrated (`benchmarks/oos_scores.py --recalibrated`, same "
    "encoder and head, not retrained): with max_softmax it had mcc 0.6592, oos_recall 0.5347, oos_auroc "
    "0.8404, in_scope_rejected 0.0751; with knn mcc 0.6911 (oracle 0.6913). Retrained at e0f955a with the "
    "current training, which drops the training file's 4 duplicate rows (324 of 328 kept, since 7625f7d), "
    "so its validation split has 32 rows instead of 33, it had mcc 0.6477 (the same in fp32); "
    "with `--preserve-base 1` 0.6487 (seed 42), also with the quarter-share threshold at 638a1ab: the row "
    "above (seeds 1-3 in preserve_base.md: median 0.6814, 0.6623 without the term). On one-epoch checkpoints of BANKING77 and CLINC150 (oos_scores.md) the "
    "scores compare so: CLINC150 AUROC 0.9697 (max_softmax) -> 0.9828 (knn, chosen), oos recall 0.9230 -> "
    "0.9310, in-scope rejected 9.6% -> 5.2%; BANKING77 in-scope rejected 19.6% -> 14.5% (knn + 1 x softmax, "
    "chosen; energy would reject 9.8%).",
    "- Keeping the pre-trained geometry (`--preserve-base 1`, `INTENT_ARGS`; `training/warmstart.py`): "
    "the banking77 and clinc150 rows at a30e76a (when it was the default) are the first trainings of both "
    "with the knn score and with this term, so against their earlier rows (BANKING77 at dc65c9f: accuracy 0.9321, in-scope "
    "rejected 8.31%, max_softmax; CLINC150 at f7f27b3: in-scope accuracy 0.9660, AUROC 0.9759, oos recall "
    "0.9240, energy) both changes count. [preserve_base.md](preserve_base.md) compares the term on and off "
    "with the same code and several seeds. A prototype of the term (vectors recorded after the vocabulary "
    "extension instead of before) gave CLINC150 in-scope accuracy 0.9664, AUROC 0.9839, oos recall 0.935. "
    "The `joint:hint3_sofmattress` row was trained before the term existed; `joint:clinc150` was retrained at "
    "7dda70e with it (its intent set's `INTENT_ARGS`), the knn score and hybrid search, against its row at "
    "a4b34a9 (none of the three): in-scope accuracy 0.9684 -> 0.9660, AUROC 0.9776 -> 0.9842, oos recall "
    "0.8970 -> 0.9420, StackFAQ recall@1 0.9720 -> 0.9880, MAP 0.9853 -> 0.9927.",
    "- Precision: rows up to commit 727019f were trained with bf16 autocast (then the CPU default) on an AVX-512 machine; the "
    "hint3_sofmattress and stackfaq rows at 394043b were re-measured on a CPU without it (AVX2), where "
    "training now runs in fp32, at low priority beside other work (hence the train seconds). Against the "
    "earlier rows: HINT3 in-scope accuracy and oos_recall identical, MCC 0.6592 vs 0.6598; StackFAQ "
    "recall@1 and MAP identical.",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--checkpoints", type=Path, default=ROOT / "artifacts" / "checkpoints")
    parser.add_argument("--reports", type=Path, default=ROOT / "artifacts" / "reports")
    parser.add_argument("--only", action="append", choices=[*INTENT_SETS, *FAQ_SETS], help="repeatable")
    parser.add_argument("--reuse", action="store_true", help="evaluate existing checkpoints instead of training")
    parser.add_argument("--joint", action="append", choices=list(INTENT_SETS), default=[],
                        help="also train one shared encoder on this intent set and StackFAQ together "
                             "(supportbot train joint) and compare it with the separate models; repeatable")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / "accuracy.json"
    results = json.loads(json_path.read_text()) if json_path.is_file() else {}
    for name in INTENT_SETS:  # the intent rows against today's targets, also rows measured before them
        if name in results:
            results[name]["targets"] = check_targets(name, results[name])
    names = (args.only or ([] if args.joint else [*INTENT_SETS, *FAQ_SETS])) + [f"joint:{n}+stackfaq" for n in args.joint]
    for name in names:
        print(f"[{name}] starting", flush=True)
        if name == "stackfaq":
            entry = run_stackfaq(args.data, args.checkpoints, args.reports, args.reuse)
        elif name == "atec_faq":
            entry = run_atec(args.data, args.checkpoints, args.reports, args.reuse)
        elif name.startswith("joint:"):
            entry = run_joint(name[6:].split("+")[0], args.data, args.checkpoints, args.reports, args.reuse, results)
        else:
            entry = run_intents(name, args.data, args.checkpoints, args.reports, args.reuse)
        entry |= {"machine": machine(), "commit": commit(), "ran_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        entry["targets"] = check_targets(name, entry)
        results[name] = entry
        order = [n for n in [*INTENT_SETS, *FAQ_SETS] if n in results] + sorted(n for n in results if ":" in n)
        results = {n: results[n] for n in order}
        json_path.write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "accuracy.md").write_text(render(results))
        print(f"[{name}] " + json.dumps(entry["targets"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
