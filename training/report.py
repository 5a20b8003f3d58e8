"""Evaluation reports: ``metrics.json``, a Markdown summary and PNG plots in one directory.

Plots: the most-confused intents (a confusion matrix over the labels in the top mistakes),
the out-of-scope threshold curve, and FAQ recall@k.

Example::

    write_intent_report(Path("reports/intents"), evaluation, title="banking77 test")
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.evaluation import FaqEvaluation, IntentEvaluation
from training.metrics import confusion_pairs

TOP_CONFUSIONS = 12


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def write_metrics(directory: Path, metrics: dict[str, float], extra: dict[str, object]) -> None:
    """Write ``metrics.json``: the metric keys at the top level, context under ``info``."""
    directory.mkdir(parents=True, exist_ok=True)
    payload = {**metrics, "info": extra}
    (directory / "metrics.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def metrics_table(metrics: dict[str, float]) -> str:
    """A two-column Markdown table of metrics."""
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {key} | {value:.4f} |" for key, value in metrics.items()]
    return "\n".join(lines)


def plot_confusions(path: Path, evaluation: IntentEvaluation) -> None:
    """Confusion matrix restricted to the labels in the most frequent top-1 mistakes."""
    plt = _pyplot()
    pairs = confusion_pairs(evaluation.gold, evaluation.top1, TOP_CONFUSIONS)
    labels = sorted({label for g, p, _ in pairs for label in (g, p)}) or ["(no mistakes)"]
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)))
    for g, p in zip(evaluation.gold, evaluation.top1):
        if g in index and p in index:
            matrix[index[g], index[p]] += 1
    size = max(5.0, 0.45 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(np.log1p(matrix), cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    for (i, j), value in np.ndenumerate(matrix):
        if value:
            ax.text(j, i, int(value), ha="center", va="center", fontsize=6)
    ax.set_xlabel("predicted (top-1)")
    ax.set_ylabel("gold")
    ax.set_title("most-confused intents")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_threshold_curve(path: Path, evaluation: IntentEvaluation) -> None:
    """In-scope accuracy with rejection and out-of-scope recall as the threshold moves."""
    plt = _pyplot()
    is_oos = np.asarray([g == evaluation.oos_label for g in evaluation.gold])
    correct = np.asarray([g == p for g, p in zip(evaluation.gold, evaluation.top1)])
    grid = np.quantile(evaluation.scores, np.linspace(0, 1, 101))
    fig, ax = plt.subplots(figsize=(6, 4))
    in_acc = [np.mean((evaluation.scores[~is_oos] >= t) & correct[~is_oos]) for t in grid]
    ax.plot(grid, in_acc, label="in-scope accuracy with rejection")
    if is_oos.any():
        ax.plot(grid, [np.mean(evaluation.scores[is_oos] < t) for t in grid], label="out-of-scope recall")
    else:
        ax.plot(grid, [np.mean(evaluation.scores < t) for t in grid], label="share rejected")
    ax.axvline(evaluation.threshold, color="grey", linestyle="--", label="calibrated threshold")
    ax.set_xlabel(f"{evaluation.score_name} threshold")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_intent_report(directory: Path, evaluation: IntentEvaluation, title: str, info: dict[str, object]) -> None:
    """Write metrics.json, report.md, confusions.png and oos_threshold.png."""
    directory = Path(directory)
    write_metrics(directory, evaluation.metrics, info)
    plot_confusions(directory / "confusions.png", evaluation)
    plot_threshold_curve(directory / "oos_threshold.png", evaluation)
    mistakes = confusion_pairs(evaluation.gold, evaluation.top1, TOP_CONFUSIONS)
    lines = [f"# Intent evaluation: {title}", "", metrics_table(evaluation.metrics), ""]
    lines += [f"Out-of-scope rule: {evaluation.score_name} < {evaluation.threshold:.4f} is rejected.", ""]
    lines += ["## Most frequent mistakes (gold -> predicted)", "", "| gold | predicted | count |", "|---|---|---|"]
    lines += [f"| {g} | {p} | {n} |" for g, p, n in mistakes]
    lines += ["", "![confusions](confusions.png)", "", "![threshold](oos_threshold.png)", ""]
    (directory / "report.md").write_text("\n".join(lines), encoding="utf-8")


def write_faq_report(directory: Path, evaluation: FaqEvaluation, title: str, info: dict[str, object]) -> None:
    """Write metrics.json, report.md and recall_at_k.png."""
    plt = _pyplot()
    directory = Path(directory)
    write_metrics(directory, evaluation.metrics, info)
    ks = np.arange(1, 11)
    ranks = np.asarray([r if r is not None else np.inf for r in evaluation.ranks], float)
    recalls = [float(np.mean(ranks <= k)) for k in ks]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ks, recalls, marker="o")
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k")
    ax.set_ylim(0, 1.02)
    ax.set_title("FAQ retrieval recall@k")
    fig.tight_layout()
    fig.savefig(directory / "recall_at_k.png", dpi=110)
    plt.close(fig)
    lines = [f"# FAQ evaluation: {title}", "", metrics_table(evaluation.metrics), ""]
    lines += ["| k | " + " | ".join(str(k) for k in ks) + " |", "|---" * (len(ks) + 1) + "|"]
    lines += ["| recall@k | " + " | ".join(f"{r:.3f}" for r in recalls) + " |", "", "![recall](recall_at_k.png)", ""]
    (directory / "report.md").write_text("\n".join(lines), encoding="utf-8")
