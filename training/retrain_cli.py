"""``supportbot retrain``: the weekly learning loop, and ``supportbot retrain init`` to start it."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from bot.models.store import default_bundles_dir
from knowledge.errors import DatabaseLocationError
from knowledge.location import data_dir, database_url

PREFIX = "supportbot retrain"
# The routing file the bot serves (``bot.core.routing.DEFAULT_ROUTING``; training may not import
# bot.core, so it is named by its path): the label check tells which new intents it leaves unrouted.
SHIPPED_ROUTING = Path(__file__).resolve().parents[1] / "bot" / "core" / "demo" / "routing.yaml"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "retrain", help="retrain from staff labels, gate, export and swap in a better bundle",
        description="Check the staff labels, build a data set from the workspace's data and the labels, train, "
                    "ask old and new the same held-out questions (the fixed evaluation sets and fresh labels "
                    "held out by rotation, intents and FAQ search), and publish only if the gate passes. A failure "
                    "at any step leaves the bundle in service untouched; nothing new to learn exits 0.\n\n"
                    "example:\n  supportbot retrain --notify http://127.0.0.1:8080\n"
                    "  supportbot retrain init --train intents.csv --eval eval.csv "
                    "--intents-checkpoint ck/intents --retriever-checkpoint ck/retriever",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", type=Path, help="training workspace (default: $SUPPORTBOT_DATA_DIR/training)")
    parser.add_argument("--bundles", type=Path, help="bundles directory (default: $SUPPORTBOT_DATA_DIR/bundles)")
    parser.add_argument("--db", help="database URL (default: $SUPPORTBOT_DB)")
    parser.add_argument("--since", help="ignore labels given before this day or time (default: use every label "
                        "given since the workspace was created)")
    parser.add_argument("--dry-run", action="store_true", help="build and describe the data set only")
    parser.add_argument("--notify", metavar="URL", help="a running bot to reload (token: $SUPPORTBOT_ADMIN_TOKEN); "
                        "without it the new bundle is activated directly")
    parser.add_argument("--no-warm-start", action="store_true", help="train from the base model, not the "
                        "active checkpoint")
    parser.add_argument("--warm-learning-rate", type=float, default=0.3, metavar="SHARE",
                        help="a warm start trains the encoder at this share of its learning rate, in (0, 1] "
                             "(default: 0.3)")
    parser.add_argument("--version", help="name of the new bundle (default: vYYYYMMDD-HHMMSS)")
    parser.add_argument("--exclude-intent", action="append", default=[], metavar="NAME",
                        help="keep this intent's labels out of this run (repeatable), e.g. a new intent with "
                             "too few examples yet")
    parser.add_argument("--started-by", default="cli", metavar="NAME",
                        help="who or what started the run, as the console lists it (e.g. cron)")
    parser.add_argument("--routing", type=Path, default=SHIPPED_ROUTING, metavar="FILE",
                        help="the routing file the bot serves; routes staff set overlay it (default: the shipped one)")
    parser.add_argument("--max-net-loss", type=int, default=2, metavar="ITEMS",
                        help="held-out items a part may lose net (more lost than gained) (default: 2, or 1%% of "
                             "the part's items when that is more)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="a part fails when a one-sided exact McNemar test puts its losses below this "
                             "chance (default: 0.05)")
    parser.add_argument("--min-support", type=int, default=20, metavar="N",
                        help="held-out items an old intent or FAQ entry needs to be judged on its own")
    parser.set_defaults(run=run_retrain)
    sub = parser.add_subparsers(dest="retrain_command", metavar="[init]")
    init = sub.add_parser("init", help="describe the active bundle's data and checkpoints for retraining",
                          description="Create the training workspace for the active bundle.\n\nexample:\n"
                                      "  supportbot retrain init --train intents.csv --eval eval.csv "
                                      "--intents-checkpoint ck/intents --retriever-checkpoint ck/retriever",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    init.add_argument("--train", type=Path, required=True, help="the intents CSV the active bundle was trained on")
    init.add_argument("--eval", type=Path, required=True, help="a fixed evaluation set (text,label), never trained on")
    init.add_argument("--queries", type=Path, help="the labelled FAQ queries the retriever was trained on")
    init.add_argument("--eval-queries", type=Path, help="fixed FAQ evaluation queries (query,faq_id), never trained "
                      "on (default: the queries the retriever checkpoint held out)")
    init.add_argument("--intents-checkpoint", type=Path, required=True)
    init.add_argument("--retriever-checkpoint", type=Path, required=True)
    init.set_defaults(run=run_init)


def _paths(args: argparse.Namespace) -> tuple[Path, Path, str]:
    try:
        url = database_url(args.db)
    except DatabaseLocationError as error:
        raise SystemExit(f"{PREFIX}: error: {error}") from None
    return args.workspace or data_dir() / "training", args.bundles or default_bundles_dir(), url


def run_init(args: argparse.Namespace) -> int:
    from bot.models.manifest import BundleError
    from bot.models.store import resolve_current
    from knowledge.database import Database
    from knowledge.errors import KnowledgeError
    from knowledge.faq.store import FaqStore
    from training.errors import TrainingInputError
    from training.workspace import Workspace

    workspace, bundles, url = _paths(args)
    try:
        active = resolve_current(bundles).name
    except BundleError:
        raise SystemExit(f"{PREFIX}: error: no active bundle in {bundles}") from None
    eval_queries = args.eval_queries or _held_out_queries(args.retriever_checkpoint)
    try:
        database = Database.open(url)
    except KnowledgeError as error:  # e.g. a schema that is behind
        raise SystemExit(f"{PREFIX}: error: {error}") from None
    try:
        Workspace.init(workspace, active, args.train, args.eval, args.queries, eval_queries,
                       args.intents_checkpoint, args.retriever_checkpoint, FaqStore(database).kb_revision())
    except (TrainingInputError, OSError, KnowledgeError) as error:
        raise SystemExit(f"{PREFIX}: error: {error}") from None
    finally:
        database.close()
    print(f"training workspace {workspace} describes bundle {active}")
    return 0


def _held_out_queries(retriever_checkpoint: Path) -> Path | None:
    """The queries the retriever checkpoint never trained on: a fair FAQ evaluation set."""
    path = retriever_checkpoint / "heldout_queries.csv"
    return path if path.is_file() else None


def run_retrain(args: argparse.Namespace) -> int:
    from knowledge.errors import KnowledgeError
    from training.errors import TrainingInputError
    from training.promotion import GateRules
    from training.retrain import RetrainFailure, RetrainInterrupted, RetrainOptions, retrain

    workspace, bundles, url = _paths(args)
    signal.signal(signal.SIGTERM, _interrupt)  # a stop from a service manager ends the run as Ctrl-C does
    try:
        options = RetrainOptions(
            workspace=workspace, bundles_dir=bundles, database_url=url, since=args.since, dry_run=args.dry_run,
            notify_url=args.notify, admin_token=os.environ.get("SUPPORTBOT_ADMIN_TOKEN", ""),
            rules=GateRules(max_net_loss=args.max_net_loss, alpha=args.alpha, min_support=args.min_support),
            warm_start=not args.no_warm_start, warm_learning_rate=args.warm_learning_rate, version=args.version,
            exclude_intents=tuple(args.exclude_intent), routing_file=args.routing, started_by=args.started_by)
        report = retrain(options)
    except RetrainInterrupted as interrupted:
        print(f"{PREFIX}: {interrupted}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # before the run began (opening the workspace, waiting for its lock)
        print(f"{PREFIX}: interrupted before training started; nothing changed", file=sys.stderr)
        return 130
    except (RetrainFailure, TrainingInputError, KnowledgeError, ValueError) as error:  # KnowledgeError: e.g. an old schema
        raise SystemExit(f"{PREFIX}: error: {error}") from None
    if report.status == "nothing_to_learn":
        print(f"nothing new to learn: {report.reason}; nothing trained")
    elif args.dry_run:
        print(f"dry run: nothing trained; see {report.run_dir}/report.md")
    else:
        print(f"published {report.new_bundle} (was {report.old_bundle}); report: {report.run_dir}/report.md")
    return 0


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt
