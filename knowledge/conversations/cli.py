"""``supportbot logs``: export the conversation log, import labels given elsewhere, undo or change a label."""
from __future__ import annotations

import argparse
import getpass
import os
from pathlib import Path

from knowledge.conversations.corrections import PhrasingChange, phrasing_changes
from knowledge.conversations.files import read_labels, write_turns
from knowledge.conversations.log import ConversationLog
from knowledge.conversations.privacy import forget_customer, has_data
from knowledge.conversations.reviews import ReviewLabel, Reviews
from knowledge.database import Database, open_database
from knowledge.errors import KnowledgeError
from knowledge.faq.store import FaqStore

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
                                        "handoffs, staff-chat relays, dialogue memory and rate-limit bucket; on "
                                        "SQLite the database file is rebuilt and its journal emptied, so no old "
                                        "copy stays. A customer is a conversation id: tg:<chat id> (Telegram) or "
                                        "web:<id> (web chat); the console's conversation page shows it.\n\n"
                                        "example:\n  supportbot logs forget --customer tg:123456789",
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    forget.add_argument("--customer", required=True, help="the conversation id, e.g. tg:123456789 or web:3f9c...")
    forget.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    forget.set_defaults(run=run_forget)
    unlabel = sub.add_parser("unlabel", help="undo the labels of turns: they go back to the review queue",
                             description="Undo the labels of turns (before the next retraining learns them). A "
                                         "question attached to a FAQ entry leaves the entry's phrasings too.\n\n"
                                         "example:\n  supportbot logs unlabel 1412 1413",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    unlabel.add_argument("turns", type=int, nargs="+", metavar="TURN")
    unlabel.add_argument("--author", help="name recorded with FAQ changes (default: $USER)")
    unlabel.set_defaults(run=run_unlabel)
    relabel = sub.add_parser("relabel", help="change the labels of labelled turns",
                             description="Give labelled turns another label (e.g. merge a rare intent into "
                                         "another one). Attaching to a FAQ entry adds the text to its phrasings; "
                                         "moving a question off an entry removes it.\n\nexample:\n"
                                         "  supportbot logs relabel 1412 --intent bulk_order\n"
                                         "  supportbot logs relabel 1413 --faq store-pickup",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    relabel.add_argument("turns", type=int, nargs="+", metavar="TURN")
    choice = relabel.add_mutually_exclusive_group(required=True)
    choice.add_argument("--intent", metavar="NAME", help="an example of this intent")
    choice.add_argument("--faq", metavar="FAQ_ID", help="a phrasing of this FAQ entry")
    choice.add_argument("--out-of-scope", action="store_true", help="out of scope for the bot")
    choice.add_argument("--dismiss", action="store_true", help="nothing to learn (noise, spam)")
    relabel.add_argument("--author", help="name recorded with the labels (default: $USER)")
    relabel.set_defaults(run=run_relabel)
    logs.set_defaults(run=None)


def run_export(args: argparse.Namespace) -> int:
    with _open(args) as database:
        suffix = "." + args.format
        if args.output.suffix and args.output.suffix != suffix:  # none (a named pipe): written as given
            raise SystemExit(f"{PREFIX}: error: --format {args.format} needs a {suffix} file name, got {args.output}")
        turns = ConversationLog(database).turns(limit=10_000_000, since=args.since, pending=args.pending)
    try:
        write_turns(turns, args.output, args.format)
    except KnowledgeError as error:  # e.g. a directory that does not exist
        raise SystemExit(f"{PREFIX}: error: {error}") from None
    print(f"exported {len(turns)} turns to {args.output}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    with _open(args) as database:
        store, reviews = FaqStore(database), Reviews(database)
        try:
            pending = {turn_id for turn in reviews.pending(limit=10_000_000) for turn_id in turn.turn_ids}
            labels = read_labels(args.file, pending, {e.faq_id for e in store.list()})
            if args.dry_run:
                print(f"would apply {len(labels)} labels")
                return 0
            reviews.label_many(labels, args.author or _user("import"))
        except KnowledgeError as error:
            raise SystemExit(f"{PREFIX}: error: {error}") from None
    print(f"applied {len(labels)} labels")
    return 0


def run_forget(args: argparse.Namespace) -> int:
    customer = _customer_id(args.customer)
    with _open(args) as database:
        # Checked before asking: a mistyped id is an error, not "erased 0 turns" after a yes.
        if not has_data(database, customer):
            raise SystemExit(f"{PREFIX}: error: no data for customer {customer}; nothing to erase (the console's "
                             "conversation page shows a customer's id)")
        if not args.yes and not _confirmed(f"Erase everything stored about {customer}? [y/N] "):
            print("nothing was erased")
            return 1
        forgotten = forget_customer(database, customer)
    print(f"erased {forgotten.turns} turns, {forgotten.feedback} feedback, {forgotten.labels} review labels and "
          f"{forgotten.handoffs} handoffs of {customer}")
    if forgotten.attached_to_faq:
        print(f"note: {forgotten.attached_to_faq} of its questions had been added to FAQ entries as phrasings; "
              "they stay in those entries (see `supportbot kb history`)")
    if not forgotten.journal_cleared:
        print("note: a running bot is reading the database, so the database's journal (its -wal file) still holds "
              "old pages with the erased text until the bot restarts")
    return 0


def _customer_id(given: str) -> str:
    """The conversation id ``--customer`` names, or the command's end with what was expected."""
    customer = given.strip()
    if customer.startswith(("tg:", "web:")) and len(customer) > customer.index(":") + 1 and len(customer) <= 128:
        return customer
    hint = ""
    if customer.lstrip("-").isdigit():
        hint = f" (did you mean tg:{customer}?)"
    elif customer and ":" not in customer:
        hint = f" (did you mean web:{customer}?)"
    raise SystemExit(f"{PREFIX}: error: --customer is a conversation id such as tg:123456789 or web:<id>, "
                     f"got {customer!r}{hint}")


def _confirmed(question: str) -> bool:
    """Whether the person answered yes. No answer at all (run from cron, stdin at its end) is
    no, in one line that names the flag which confirms without asking."""
    try:
        answer = input(question)
    except EOFError:
        print()  # ends the question's line
        raise SystemExit(f"{PREFIX}: error: no answer (end of input), so nothing was erased; "
                         "pass --yes to erase without being asked") from None
    return answer.strip().lower() in ("y", "yes")


def _open(args: argparse.Namespace) -> Database:
    return open_database(args.db, PREFIX)


def run_unlabel(args: argparse.Namespace) -> int:
    with _open(args) as database:
        store, reviews = FaqStore(database), Reviews(database)
        try:
            undone = reviews.unlabel(args.turns)
            edited = _follow(store, phrasing_changes(undone, [], store.get), args.author or _user("cli"))
        except KnowledgeError as error:
            raise SystemExit(f"{PREFIX}: error: {error}") from None
    for label in undone:
        print(f"turn {label.turn_id}: label {_named(label)} undone; back in the review queue")
    for faq_id in edited:
        print(f"FAQ entry {faq_id}: the question was removed from its phrasings")
    return 0


def run_relabel(args: argparse.Namespace) -> int:
    kind, value = ("intent", args.intent) if args.intent else ("faq", args.faq) if args.faq else \
        ("out_of_scope", None) if args.out_of_scope else ("dismissed", None)
    author = args.author or _user("cli")
    with _open(args) as database:
        store, reviews = FaqStore(database), Reviews(database)
        try:
            if args.faq:
                store.get(args.faq)  # an unknown entry is refused before any label changes
            old, new = reviews.relabel(args.turns, kind, value, author)
            edited = _follow(store, phrasing_changes(old, new, store.get), author)
        except KnowledgeError as error:
            raise SystemExit(f"{PREFIX}: error: {error}") from None
    for before, after in zip(old, new):
        print(f"turn {after.turn_id}: {_named(before)} -> {_named(after)}")
    for faq_id in edited:
        print(f"FAQ entry {faq_id}: phrasings updated")
    return 0


def _follow(store: FaqStore, changes: list[PhrasingChange], author: str) -> list[str]:
    for change in changes:
        store.edit(change.faq_id, change.base_revision, author, alternatives=change.alternatives)
    return [change.faq_id for change in changes]


def _named(label: ReviewLabel) -> str:
    return f"{label.kind} {label.value}" if label.value else label.kind


def _user(default: str) -> str:
    return os.environ.get("USER") or getpass.getuser() or default
