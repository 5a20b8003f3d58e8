"""``supportbot train ...`` and ``supportbot evaluate ...``: the training package's commands.

Heavy libraries (torch, transformers, sentence-transformers) are imported inside the
handlers, so ``supportbot --help`` stays fast. A ``TrainingInputError`` becomes one line on
stderr (``supportbot train: error: ...``) and exit status 1.

Example::

    $ supportbot train intents --train data/intents.csv --out artifacts/intents
    $ supportbot train joint --train data/intents.csv --faq faq.csv --queries queries.csv --out artifacts/joint
    $ supportbot evaluate intents --model artifacts/intents --test data/test.csv --report reports/intents
"""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from training.args import IntentTrainingArgs, RetrieverTrainingArgs
from training.errors import TrainingInputError

Handler = Callable[[argparse.Namespace], int]


@contextlib.contextmanager
def _cleanup_on_sigterm():
    """Turn SIGTERM into SystemExit while a command runs, so temp output dirs are removed."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _guarded(command: str, handler: Handler) -> Handler:
    """Turn user mistakes into ``SystemExit("supportbot <command>: error: ...")``."""

    def run(args: argparse.Namespace) -> int:
        try:
            with _cleanup_on_sigterm():
                return handler(args)
        except TrainingInputError as error:
            raise SystemExit(f"supportbot {command}: error: {error}") from None

    return run


def _warn(line: str) -> None:
    """A data check finding: on stderr, so that stdout keeps only the result."""
    print(f"supportbot train: warning: {line}", file=sys.stderr)


def _train_intents(args: argparse.Namespace) -> int:
    from training.intents import train_intents

    options = IntentTrainingArgs(
        base_model=args.base_model, epochs=args.epochs, learning_rate=args.learning_rate,
        batch_size=args.batch_size, max_length=args.max_length, oos_label=args.oos_label,
        precision=args.precision, seed=args.seed, min_train_steps=args.min_train_steps,
        nearest_vote=args.nearest_vote, preserve_base=args.preserve_base, oos_share=args.oos_share,
        oos_exposure=args.oos_exposure,
    )  # fmt: skip
    metrics = train_intents(args.train, args.valid, args.out, options, log=_warn)
    print(f"wrote {args.out}; validation metrics: {json.dumps(metrics)}")
    return 0


def _train_retriever(args: argparse.Namespace) -> int:
    from training.retriever import train_retriever

    options = RetrieverTrainingArgs(
        base_model=args.base_model, epochs=args.epochs, learning_rate=args.learning_rate,
        batch_size=args.batch_size, document=args.document, hard_negatives=not args.no_hard_negatives,
        precision=args.precision, seed=args.seed, lexical_weight=args.lexical_weight,
        valid_fraction=args.held_out_queries,
    )  # fmt: skip
    metrics = train_retriever(args.faq, args.queries, args.out, options)
    print(f"wrote {args.out}; held-out metrics: {json.dumps(metrics)}")
    return 0


def _train_joint(args: argparse.Namespace) -> int:
    from training.joint import JointInputs, train_joint

    intent_options = IntentTrainingArgs(
        base_model=args.base_model, epochs=args.epochs, learning_rate=args.learning_rate,
        batch_size=args.batch_size, oos_label=args.oos_label, precision=args.precision, seed=args.seed,
        min_train_steps=args.min_train_steps, nearest_vote=args.nearest_vote, preserve_base=args.preserve_base,
        oos_share=args.oos_share, oos_exposure=args.oos_exposure,
    )  # fmt: skip
    retriever_options = RetrieverTrainingArgs(
        epochs=args.retriever_epochs, batch_size=args.batch_size, max_length=args.max_length,
        document=args.document, hard_negatives=not args.no_hard_negatives, precision=args.precision, seed=args.seed,
        lexical_weight=args.lexical_weight, valid_fraction=args.held_out_queries,
    )  # fmt: skip
    inputs = JointInputs(args.train, args.valid, args.faq, args.queries)
    metrics = train_joint(inputs, args.out, intent_options, retriever_options, log=_warn)
    print(f"wrote {args.out / 'intents'} and {args.out / 'retriever'} (one shared encoder); "
          f"metrics: {json.dumps(metrics)}")
    return 0


def _evaluate_intents(args: argparse.Namespace) -> int:
    from training.checkpoint import load_intent_predictor
    from training.data import read_intent_file
    from training.evaluation import evaluate_intents
    from training.report import write_intent_report

    test = read_intent_file(args.test)
    if test.empty_lines:
        print(f"supportbot evaluate: warning: {args.test}: skipped {len(test.empty_lines)} row(s) with no text or "
              "no label", file=sys.stderr)
    rows = test.rows
    meta, predict = load_intent_predictor(args.model)
    result = evaluate_intents(predict, meta, rows)
    write_intent_report(args.report, result, f"{args.model} on {args.test}", {"model": str(args.model), "test": str(args.test)})
    print(f"wrote {args.report}; metrics: {json.dumps(result.metrics)}")
    return 0


def _evaluate_faq(args: argparse.Namespace) -> int:
    from training.checkpoint import load_retriever_encoder
    from training.data import read_faq, read_queries
    from training.evaluation import evaluate_faq
    from training.report import write_faq_report

    entries = read_faq(args.faq)
    queries = read_queries(args.queries, {e.faq_id for e in entries})
    meta, encode = load_retriever_encoder(args.model)
    weight = meta.lexical_weight if args.lexical_weight is None else args.lexical_weight
    result = evaluate_faq(encode, meta.document, meta.thresholds, entries, queries, weight)
    info = {"model": str(args.model), "faq": str(args.faq), "queries": str(args.queries), "document": meta.document,
            "lexical_weight": weight}
    write_faq_report(args.report, result, f"{args.model} on {args.queries}", info)
    print(f"wrote {args.report}; metrics: {json.dumps(result.metrics)}")
    return 0


def _add_common(parser: argparse.ArgumentParser, defaults: IntentTrainingArgs | RetrieverTrainingArgs) -> None:
    parser.add_argument("--out", type=Path, required=True, help="checkpoint directory to create (must not exist or be empty)")
    parser.add_argument("--base-model", default="", help="Hugging Face id or local path (default: bundled all-MiniLM-L6-v2)")
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help=f"default {defaults.epochs}")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help=f"default {defaults.learning_rate}")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"default {defaults.batch_size}")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp16", "fp32"), default="auto",
                        help="auto: bf16 on recent GPUs and on CPUs with native bf16, fp16 on older GPUs, else fp32")  # fmt: skip
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"default {defaults.seed}")


def _add_intent_data(parser: argparse.ArgumentParser) -> None:
    """The intent data and its options, as ``train intents`` and ``train joint`` take them."""
    parser.add_argument("--train", type=Path, required=True, help="CSV with columns text,label")
    parser.add_argument("--valid", type=Path, help="validation CSV (default: a stratified split of --train)")
    parser.add_argument("--oos-label", default=IntentTrainingArgs.oos_label, help="label of out-of-scope rows")
    parser.add_argument("--min-train-steps", type=int, default=IntentTrainingArgs.min_train_steps,
                        help=f"small data sets get more epochs until this many steps (default "
                             f"{IntentTrainingArgs.min_train_steps})")
    parser.add_argument("--nearest-vote", type=float, default=IntentTrainingArgs.nearest_vote, metavar="W",
                        help="weight (0 to 1) of the intent whose training examples lie nearest the message, "
                             "beside the classifier's own probabilities; helps intents with few examples "
                             f"(default {IntentTrainingArgs.nearest_vote:g}: the classifier alone)")
    parser.add_argument("--preserve-base", type=float, default=IntentTrainingArgs.preserve_base, metavar="W",
                        help="weight of the term keeping each example's vector near the starting encoder's: "
                             "keeps the pre-trained geometry that out-of-scope detection measures with "
                             f"(default {IntentTrainingArgs.preserve_base:g}: off; 1 helped BANKING77, CLINC150 and HINT3)")
    parser.add_argument("--oos-share", type=float, default=IntentTrainingArgs.oos_share, metavar="S",
                        help="the share of out-of-scope messages the out-of-scope threshold (and, training joint, "
                             "the FAQ answer threshold) is chosen for, when the data has oos rows (default "
                             f"{IntentTrainingArgs.oos_share:g}: balanced accuracy; lower rejects fewer in-scope messages)")
    parser.add_argument("--oos-exposure", type=float, default=IntentTrainingArgs.oos_exposure, metavar="F",
                        help="the share (0 to below 1) of the training split's oos rows the classifier is trained "
                             "on as outliers, pushed toward no intent; the rest calibrate the threshold "
                             f"(default {IntentTrainingArgs.oos_exposure:g}: none)")


def _add_faq_data(parser: argparse.ArgumentParser) -> None:
    """The FAQ data and its options, as ``train retriever`` and ``train joint`` take them."""
    parser.add_argument("--faq", type=Path, required=True, help="CSV with columns faq_id,question,answer")
    parser.add_argument("--queries", type=Path, required=True, help="CSV with columns query,faq_id")
    parser.add_argument("--document", choices=("auto", "question", "question_answer"), default="auto",
                        help="what is embedded per FAQ phrasing (auto: measured with the base model)")
    parser.add_argument("--no-hard-negatives", action="store_true", help="use in-batch negatives only")
    parser.add_argument("--lexical-weight", type=_weight, default=None, metavar="auto|W",
                        help="weight of the lexical (BM25) score in hybrid FAQ search, 0 to 1 (0: dense alone); "
                             "default auto: the best MRR on the held-out queries")
    parser.add_argument("--held-out-queries", type=_share, default=RetrieverTrainingArgs.valid_fraction, metavar="F",
                        help="the share (0 to 1) of the labelled queries held out to calibrate the FAQ answer "
                             f"threshold and margin on, never trained on (default {RetrieverTrainingArgs.valid_fraction:g}); "
                             "a retrain trusts thresholds chosen on 30 queries or more")


def _weight(value: str) -> float | None:
    """``--lexical-weight``: "auto" or a number in [0, 1]."""
    if value == "auto":
        return None
    try:
        weight = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a number in [0, 1], got {value!r}") from None
    if not 0 <= weight <= 1:
        raise argparse.ArgumentTypeError(f"expected auto or a number in [0, 1], got {value!r}")
    return weight


def _share(value: str) -> float:
    """``--held-out-queries``: a number strictly between 0 and 1."""
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0 < share < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {value!r}")
    return share


def _describe(text: str, example: str) -> str:
    return f"{text}\n\nexample:\n  {example}"


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``train`` and ``evaluate`` command groups to the root parser."""
    fmt = argparse.RawDescriptionHelpFormatter
    train = commands.add_parser("train", help="fine-tune the intent classifier or the FAQ retriever")
    train_commands = train.add_subparsers(dest="train_command", metavar="MODEL")

    intents = train_commands.add_parser(
        "intents", help="fine-tune the intent classifier", formatter_class=fmt,
        description=_describe(
            "Fine-tune the intent classifier on a text,label CSV; rows labelled oos calibrate the "
            "out-of-scope threshold and are never a class.",
            "supportbot train intents --train intents.csv --out artifacts/intents"),
    )  # fmt: skip
    _add_intent_data(intents)
    _add_common(intents, IntentTrainingArgs())
    intents.add_argument("--max-length", type=int, default=IntentTrainingArgs.max_length, help="tokens per message")
    intents.set_defaults(run=_guarded("train", _train_intents))

    retriever = train_commands.add_parser(
        "retriever", help="fine-tune the FAQ retriever (bi-encoder)", formatter_class=fmt,
        description=_describe(
            "Fine-tune the FAQ retriever on FAQ entries (faq_id,question,answer[,alternatives]) and "
            "labelled queries (query,faq_id) with in-batch and hard negatives.",
            "supportbot train retriever --faq faq.csv --queries queries.csv --out artifacts/retriever"),
    )  # fmt: skip
    _add_faq_data(retriever)
    _add_common(retriever, RetrieverTrainingArgs())
    retriever.set_defaults(run=_guarded("train", _train_retriever))

    joint = train_commands.add_parser(
        "joint", help="fine-tune one encoder for both models (half the CPU per message)", formatter_class=fmt,
        description=_describe(
            "Fine-tune one encoder on the intents and the FAQ together: the intent classifier's loss and "
            "the retriever's ranking loss on every step. Writes OUT/intents and OUT/retriever, two "
            "checkpoints of the same encoder; the exported bundle runs it once per message for both.",
            "supportbot train joint --train intents.csv --faq faq.csv --queries queries.csv --out artifacts/joint"),
    )  # fmt: skip
    _add_intent_data(joint)
    _add_faq_data(joint)
    _add_common(joint, IntentTrainingArgs())
    joint.add_argument("--max-length", type=int, default=RetrieverTrainingArgs.max_length,
                       help="tokens per text, for both models")
    joint.add_argument("--retriever-epochs", type=int, default=RetrieverTrainingArgs.epochs,
                       help=f"at least this many passes over the FAQ pairs (default {RetrieverTrainingArgs.epochs})")
    joint.set_defaults(run=_guarded("train", _train_joint))

    evaluate = commands.add_parser("evaluate", help="evaluate a trained model and write a report")
    evaluate_commands = evaluate.add_subparsers(dest="evaluate_command", metavar="MODEL")
    ev_intents = evaluate_commands.add_parser(
        "intents", help="evaluate an intent checkpoint on a labelled CSV", formatter_class=fmt,
        description=_describe(
            "Write metrics.json, report.md and plots for an intent checkpoint on a text,label CSV.",
            "supportbot evaluate intents --model artifacts/intents --test test.csv --report reports/intents"),
    )  # fmt: skip
    ev_intents.add_argument("--model", type=Path, required=True, help="intent checkpoint directory")
    ev_intents.add_argument("--test", type=Path, required=True, help="CSV with columns text,label")
    ev_intents.add_argument("--report", type=Path, required=True, help="directory for the report")
    ev_intents.set_defaults(run=_guarded("evaluate", _evaluate_intents))

    ev_faq = evaluate_commands.add_parser(
        "faq", help="evaluate a retriever checkpoint on labelled queries", formatter_class=fmt,
        description=_describe(
            "Write metrics.json, report.md and a recall@k plot for a retriever checkpoint.",
            "supportbot evaluate faq --model artifacts/retriever --faq faq.csv --queries test.csv --report reports/faq"),
    )  # fmt: skip
    ev_faq.add_argument("--model", type=Path, required=True, help="retriever checkpoint directory")
    ev_faq.add_argument("--faq", type=Path, required=True, help="CSV with columns faq_id,question,answer")
    ev_faq.add_argument("--queries", type=Path, required=True, help="CSV with columns query,faq_id")
    ev_faq.add_argument("--report", type=Path, required=True, help="directory for the report")
    ev_faq.add_argument("--lexical-weight", type=_weight, default=None, metavar="W",
                        help="rank with this lexical weight instead of the checkpoint's (the answered share "
                             "then uses thresholds calibrated for the checkpoint's weight)")
    ev_faq.set_defaults(run=_guarded("evaluate", _evaluate_faq))


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run through the supportbot command")
