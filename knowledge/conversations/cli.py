"""``supportbot logs``: export the conversation log, import labels given elsewhere."""
from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

from knowledge.conversations.files import read_labels, write_turns
from knowledge.conversations.log import ConversationLog
from knowledge.conversations.privacy import forget_customer
from knowledge.conversations.reviews import Reviews
from knowledge.database import Database
from knowledge.errors import KnowledgeError
from knowledge.faq.store import FaqStore
from knowledge.location import database_url

PREFIX = "supportbot logs"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = commands.add_parser("logs", help="export conversation turns; import labels given elsewhere",
                               description="The conversation log as files.")
    logs.add_argument("--db", help="database URL (default: $SUPPORTBOT_DB)")
    sub = logs.add_subparsers(dest="logs_command", metavar="COMMAND")
    export = sub.add_parser("export", help="write turns to a .csv or .jsonl file",
                            description="Write turns (text, action, intent, confidence, FAQ hit, reply, feedback, "
                                        "review state) to a file.\n\nexample:\n  supportbot logs export --since "
                                        "2026-11-01 --format jsonl --output turns.jsonl",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("--since", help="only turns from this day or time on (UTC)")
    export.add_argument("--format", choices=("csv", "jsonl"), required=True)
    export.add_argument("--output", type=Path, required=True)
    export.add_argument("--pending", action="store_true", help="only turns waiting for review")
    export.set_defaults(run=run_export)
    imports = sub.add_parser("import", help="apply labels from a turn_id,kind,value file: all or nothing",
                             description="Apply review labels (kind: intent, faq, new_faq, out_of_scope, "
                                         "dismissed) to queued turns; every bad row is reported and nothing is "
                                         "applied unless all are good.\n\nexample:\n  supportbot logs import "
                                         "labels.csv",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    imports.add_argument("file", type=Path)
    imports.add_argument("--author", help="name recorded with the labels (default: $USER)")
    imports.add_argument("--dry-run", action="store_true")
    imports.set_defaults(run=run_import)
    forget = sub.add_parser("forget", help="erase everything stored about one customer (a data-protection request)",
                            description="Delete one customer's conversation: its turns, feedback, review labels, "
                                        "handoffs and staff-chat relays. A customer is a conversation id: tg:<chat "
                                        "id> (Telegram) or web:<id> (web chat).\n\nexample:\n  supportbot logs "
                                        "forget --customer tg:123456789",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    forget.add_argument("--customer", required=True, help="the conversation id, e.g. tg:123456789 or web:3f9c...")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    forget.set_defaults(run=run_forget)
    logs.set_defaults(run=None)


def run_export(args: argparse.Namespace) -> int:
    with _open(args) as database:
        suffix = "." + args.format
        if args.output.suffix != suffix:
            raise SystemExit(f"{PREFIX}: error: --format {args.format} needs a {suffix} file name, got {args.output}")
        turns = ConversationLog(database).turns(limit=10_000_000, since=args.since, pending=args.pending)
    write_turns(turns, args.output, args.format)
    print(f"exported {len(turns)} turns to {args.output}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    with _open(args) as database:
        store, reviews = FaqStore(database), Reviews(database)
        try:
            pending = {turn.id for turn in reviews.pending(limit=10_000_000)}
            labels = read_labels(args.file, pending, {e.faq_id for e in store.list()})
            if args.dry_run:
                print(f"would apply {len(labels)} labels")
                return 0
            reviews.label_many(labels, args.author or os.environ.get("USER") or getpass.getuser() or "import")
        except KnowledgeError as error:
            raise SystemExit(f"{PREFIX}: error: {error}") from None
    print(f"applied {len(labels)} labels")
    return 0


def run_forget(args: argparse.Namespace) -> int:
    customer = args.customer.strip()
    if not customer.startswith(("tg:", "web:")) or len(customer) > 128:
        raise SystemExit(f"{PREFIX}: error: --customer is a conversation id such as tg:123456789 or web:<id>")
    if not args.yes and input(f"Erase everything stored about {customer}? [y/N] ").strip().lower() not in ("y", "yes"):
        print("nothing was erased")
        return 1
    with _open(args) as database:
        forgotten = forget_customer(database, customer)
    print(f"erased {forgotten.turns} turns, {forgotten.feedback} feedback, {forgotten.labels} review labels and "
          f"{forgotten.handoffs} handoffs of {customer}")
    if forgotten.attached_to_faq:
        print(f"note: {forgotten.attached_to_faq} of its questions had been added to FAQ entries as phrasings; "
              "they stay in those entries (see `supportbot kb history`)")
    return 0


def _open(args: argparse.Namespace) -> Database:
    try:
        return Database.open(database_url(args.db))
    except KnowledgeError as error:  # e.g. a schema that is behind: one line naming the command to run
        raise SystemExit(f"{PREFIX}: error: {error}") from None
