"""Fine-tune the FAQ retriever: a sentence-transformers bi-encoder with in-batch negatives.

Training pairs are (labelled query -> its entry's document) and (alternative phrasing ->
its entry's document), trained with ``MultipleNegativesRankingLoss``: every other document
in the batch is a negative, and optionally one hard negative per pair, mined with the base
model (the best-scoring document of a *different* entry, so alternatives of the same entry
never become negatives). Batches never hold the same text twice.

Example::

    train_retriever(Path("faq.csv"), Path("queries.csv"), Path("ckpt"), RetrieverTrainingArgs())
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.models.manifest import RetrievalThresholds
from export.checkpoint import EncoderCheckpoint, RetrieverCheckpoint, write_retriever_json
from knowledge.faq.documents import DOCUMENT_MODES, document_text, documents
from training.args import RetrieverTrainingArgs
from training.calibration import SIMULATED_OOS_SHARE, calibrate_answer
from training.checkpoint import atomic_output_dir, now_iso
from training.data import (
    FaqEntry,
    LabelledQuery,
    fingerprint,
    read_faq,
    read_queries,
    split_queries,
    write_faq,
    write_queries,
)
from training.fusion import choose_lexical_weight
from training.metrics import mean_average_precision, mean_reciprocal_rank, recall_at_k
from training.ranking import Encode, FaqRanking, phrasing_scores, rank_faq, rank_scores
from training.vocabulary import extend_vocabulary


def training_pairs(entries: Sequence[FaqEntry], queries: Sequence[LabelledQuery], document: str) -> list[tuple[str, str, str]]:
    """(anchor, positive document, faq_id) for labelled queries and alternative phrasings.

    The positive is the entry's main document (its question, with the answer when
    ``document`` is "question_answer"); the question itself is an anchor only then.
    """
    by_id = {entry.faq_id: entry for entry in entries}
    main = {e.faq_id: document_text(e.question, e.answer, document) for e in entries}
    pairs = [(q.query, main[q.faq_id], q.faq_id) for q in queries]
    for entry in entries:
        anchors = list(entry.alternatives) + ([entry.question] if document == "question_answer" else [])
        pairs += [(anchor, main[entry.faq_id], entry.faq_id) for anchor in anchors]
    return [p for p in pairs if p[0] != p[1] and p[2] in by_id]


def vocabulary_texts(entries: Sequence[FaqEntry], queries: Sequence[LabelledQuery]) -> list[str]:
    """The text training reads: every phrasing and answer of the FAQ and the training queries
    (held-out queries stay unseen, characters included)."""
    return [text for e in entries for text in (*e.phrasings(), e.answer)] + [q.query for q in queries]


def mine_negatives(encode: Encode, pairs: Sequence[tuple[str, str, str]], entries: Sequence[FaqEntry], document: str) -> list[str]:
    """For each pair, the most similar document of another entry under the base model."""
    texts, ids = documents(entries, document)
    cosine = encode([p[0] for p in pairs]) @ encode(texts).T  # [pairs, docs]
    same = np.asarray(ids, dtype=object)[None, :] == np.asarray([p[2] for p in pairs], dtype=object)[:, None]
    cosine[same] = -np.inf
    return [texts[j] for j in cosine.argmax(axis=1)]


def ranking_metrics(encode: Encode, entries: Sequence[FaqEntry], queries: Sequence[LabelledQuery], document: str) -> dict[str, float]:
    """recall@1, recall@5, MRR and MAP of ``encode`` (cosine alone) on labelled queries."""
    return metrics_of(rank_faq(encode, entries, [q.query for q in queries], document), queries)


def metrics_of(ranking: FaqRanking, queries: Sequence[LabelledQuery]) -> dict[str, float]:
    """recall@1, recall@5, MRR and MAP of a ranking of labelled queries."""
    relevant = [{q.faq_id} for q in queries]
    return {
        "recall_at_1": recall_at_k(ranking.ranked_ids, relevant, 1),
        "recall_at_5": recall_at_k(ranking.ranked_ids, relevant, 5),
        "mrr": mean_reciprocal_rank(ranking.ranked_ids, relevant),
        "map": mean_average_precision(ranking.ranked_ids, relevant),
    }


def calibrate_search(encode: Encode, entries: Sequence[FaqEntry], held: Sequence[LabelledQuery], document: str,
                     args: RetrieverTrainingArgs, outside: Sequence[str] = (), oos_share: float = SIMULATED_OOS_SHARE,
                     ) -> tuple[float, RetrievalThresholds, dict[str, float]]:
    """The lexical weight (``args.lexical_weight``, or chosen on ``held``: ``training.fusion``), the
    answer thresholds calibrated on the hybrid scores at that weight, and held-out metrics.
    ``outside``: out-of-scope messages no model trained on (the intent data's calibration rows),
    which the answer threshold is weighed against at ``oos_share`` (``calibrate_answer``).

    The metrics' plain keys (``recall_at_1``, ``mrr``, ...) measure the encoder alone, as the
    export's gate re-measures them; ``hybrid_*`` the search the bot runs, ``lexical_mrr`` BM25 alone.
    """
    scores = phrasing_scores(encode, entries, [q.query for q in held], document)
    measured: dict[str, float] = {}
    weight = args.lexical_weight
    if weight is None:
        choice = choose_lexical_weight(scores, [q.faq_id for q in held])
        weight, measured = choice.weight, choice.measured
    ranking = rank_scores(scores, weight)
    correct = [ids[0] == q.faq_id for ids, q in zip(ranking.ranked_ids, held)]
    rejected = rank_scores(phrasing_scores(encode, entries, list(outside), document), weight).top_scores \
        if outside else ()
    thresholds = calibrate_answer(ranking.top_scores, ranking.second_scores, correct, args.target_precision,
                                  rejected, oos_share)
    metrics = {**metrics_of(rank_scores(scores, 0.0), held), **measured,
               **{f"hybrid_{k}": v for k, v in metrics_of(ranking, held).items()}, "lexical_weight": weight}
    return weight, thresholds, {k: round(v, 6) for k, v in metrics.items()}


# Embedding the answer too costs several times the tokens (answers are far longer than questions) in
# training and indexing, so it has to earn its place by this much base-model MRR.
ANSWER_MRR_MARGIN = 0.01


def choose_document(encode: Encode, entries, held: Sequence[LabelledQuery], document: str) -> tuple[str, dict[str, float]]:
    """``document``, or for "auto" "question_answer" only when its base-model MRR on the
    held-out queries beats "question" by more than ``ANSWER_MRR_MARGIN``."""
    candidates = DOCUMENT_MODES if document == "auto" else (document,)
    mrr = {name: ranking_metrics(encode, entries, held, name)["mrr"] for name in candidates}
    measured = {f"base_mrr_{name}": v for name, v in mrr.items()}
    if document != "auto":
        return document, measured
    better = mrr["question_answer"] > mrr["question"] + ANSWER_MRR_MARGIN
    return ("question_answer" if better else "question"), measured


def train_retriever(faq_path: Path, queries_path: Path, out: Path, args: RetrieverTrainingArgs) -> dict[str, float]:
    """Train, calibrate and write a retriever checkpoint to ``out``; return held-out metrics."""
    from training.encoder import resolve_base_model

    entries = read_faq(faq_path)
    queries = read_queries(queries_path, {e.faq_id for e in entries})
    train_queries, held = split_queries(queries, args.valid_fraction, args.seed)
    source, base_name = resolve_base_model(args.base_model)
    with atomic_output_dir(out) as tmp:
        model = load_sentence_model(source, args.max_length)
        added = extend_vocabulary(model.tokenizer, model[0].auto_model, vocabulary_texts(entries, train_queries))
        encode = lambda texts: model.encode(texts, batch_size=64, normalize_embeddings=True)  # noqa: E731
        # encode follows the model: the base model before fit(), the fine-tuned one after it
        document, measured = choose_document(encode, entries, held, args.document)
        pairs = training_pairs(entries, train_queries, document)
        negatives = mine_negatives(encode, pairs, entries, document) if args.hard_negatives else None
        started = time.monotonic()
        fit(model, pairs, negatives, args, tmp / "trainer")
        seconds = time.monotonic() - started
        weight, thresholds, metrics = calibrate_search(encode, entries, held, document, args)
        metrics = {**metrics, **{k: round(v, 6) for k, v in measured.items()}, "vocabulary_added": len(added)}
        metrics["train_seconds"] = round(seconds, 1)
        import shutil

        shutil.rmtree(tmp / "trainer", ignore_errors=True)
        model.save(str(tmp / "model"))
        write_checkpoint(tmp, entries, train_queries, held, args, base_name, document, thresholds, metrics, weight)
    return metrics


def write_checkpoint(out: Path, entries: Sequence[FaqEntry], train_queries: Sequence[LabelledQuery],
                     held: Sequence[LabelledQuery], args: RetrieverTrainingArgs, base_name: str, document: str,
                     thresholds: RetrievalThresholds, metrics: dict[str, float], lexical_weight: float) -> None:
    """Write everything of a retriever checkpoint (docs/checkpoints.md) but the model directory."""
    write_faq(out / "heldout_faq.csv", entries)
    write_queries(out / "heldout_queries.csv", held)
    args.save(out / "training_args.json")
    encoder = EncoderCheckpoint(
        path=out, base_model=base_name, pooling="mean", normalize=True, max_length=args.max_length,
        metrics=metrics, data_fingerprint=fingerprint(entries, train_queries, held), created_at=now_iso(),
    )  # fmt: skip
    write_retriever_json(RetrieverCheckpoint(encoder, document, thresholds, lexical_weight))


def load_sentence_model(source: str, max_length: int):
    """A SentenceTransformer with mean pooling; plain Hugging Face encoders get it added."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models

    from training.errors import TrainingInputError

    try:
        if (Path(source) / "modules.json").is_file():
            model = SentenceTransformer(source)
        else:
            word = models.Transformer(source, max_seq_length=max_length)
            pooling = models.Pooling(word.get_embedding_dimension(), pooling_mode="mean")
            model = SentenceTransformer(modules=[word, pooling, models.Normalize()])
    except (OSError, ValueError) as error:
        raise TrainingInputError(f"--base-model {source}: cannot load the model ({error})") from error
    model.max_seq_length = max_length
    return model


def fit(model, pairs: Sequence[tuple[str, str, str]], negatives: list[str] | None, args: RetrieverTrainingArgs, work_dir: Path) -> None:
    """Fine-tune ``model`` in place with MultipleNegativesRankingLoss."""
    from datasets import Dataset

    # The sentence_transformer.* paths: the top-level aliases warn as deprecated in 5.7.
    from sentence_transformers.sentence_transformer import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    from training.encoder import choose_precision

    columns = {"anchor": [p[0] for p in pairs], "positive": [p[1] for p in pairs]}
    if negatives is not None:
        columns["negative"] = negatives
    use_cpu, bf16, fp16 = choose_precision(args.precision)
    training_args = SentenceTransformerTrainingArguments(
        output_dir=str(work_dir),
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_ratio=args.warmup_ratio,
        batch_sampler=BatchSamplers.NO_DUPLICATES,  # a duplicate in a batch would be a false negative
        save_strategy="no",
        logging_strategy="epoch",
        use_cpu=use_cpu,
        bf16=bf16,
        fp16=fp16,
        seed=args.seed,
        data_seed=args.seed,
        report_to=[],
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=training_args,
        train_dataset=Dataset.from_dict(columns),
        loss=MultipleNegativesRankingLoss(model),
    )
    trainer.train()
