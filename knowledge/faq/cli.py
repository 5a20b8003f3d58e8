"""``supportbot kb``: the FAQ knowledge base from the command line.

Every sub-command has help and an example; a mistake (bad file, unknown id, stale edit)
prints one clear error line and exits with status 1, leaving the database as it was.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

from knowledge.database import Database
from knowledge.errors import FaqFileError, InvalidEntry, KnowledgeError, OutputError
from knowledge.faq.entry import FaqEntry, validate_entry
from knowledge.faq.formats import FORMATS, read_faq_file, write_faq_file
from knowledge.faq.hashing import HashingEncoder
from knowledge.faq.index import FaqIndex, open_index
from knowledge.faq.store import FaqStore, ImportPlan
from knowledge.location import database_url, index_path
from knowledge.output import check_place

PREFIX = "supportbot kb"
# What ``supportbot`` calls for a sub-command: the parsed arguments in, the exit status out.
Handler = Callable[[argparse.Namespace], int]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``kb`` and its sub-commands to the root parser."""
    kb = commands.add_parser("kb", help="edit, import, export and index the FAQ knowledge base",
                             description="The FAQ knowledge base: entries with revisions.")
    kb.add_argument("--db", help="database URL or SQLite file (default: $SUPPORTBOT_DB, "
                                 "else $SUPPORTBOT_DATA_DIR/supportbot.db)")
    kb.add_argument("--author", help="name recorded in the revision history (default: $USER)")
    sub = kb.add_subparsers(dest="kb_command", metavar="COMMAND")

    def command(name: str, help_text: str, example: str, run: Handler) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text, description=f"{help_text}.\n\nexample:\n  {example}",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        parser.set_defaults(run=_guarded(run))
        return parser

    p = command("list", "list FAQ entries", "supportbot kb list --tag shipping", run_list)
    p.add_argument("--tag", help="only entries with this tag")
    p.add_argument("--search", help="only entries whose question, alternatives or answer contain this")
    p.add_argument("--removed", action="store_true", help="include removed entries")
    p = command("show", "show one entry with all its fields", "supportbot kb show returns", run_show)
    p.add_argument("faq_id")
    p = command("add", "add a new entry", 'supportbot kb add returns --question "Can I return it?" '
                '--answer "Yes, within 30 days." --alt "How do returns work?" --tag returns', run_add)
    p.add_argument("faq_id")
    _content_options(p, required=True)
    p = command("edit", "change fields of an entry (refused if it changed since --base-revision)",
                'supportbot kb edit returns --base-revision 3 --answer "Yes, within 60 days."', run_edit)
    p.add_argument("faq_id")
    p.add_argument("--base-revision", type=int, help="the revision your change is based on "
                   "(default: the current one)")
    _content_options(p, required=False)
    p = command("remove", "remove an entry (its history stays; restore or revert brings it back)",
                "supportbot kb remove returns", run_remove)
    p.add_argument("faq_id")
    p.add_argument("--base-revision", type=int)
    p = command("restore", "bring back a removed entry", "supportbot kb restore returns", run_restore)
    p.add_argument("faq_id")
    p = command("history", "every revision of an entry: who, when, what changed",
                "supportbot kb history returns", run_history)
    p.add_argument("faq_id")
    p = command("revert", "make an entry what it was after an earlier revision",
                "supportbot kb revert returns 2", run_revert)
    p.add_argument("faq_id")
    p.add_argument("revision", type=int)
    p = command("import", "import entries from a .csv, .yaml or .json file: all or nothing",
                "supportbot kb import faq.csv --dry-run", run_import)
    p.add_argument("file", type=Path)
    p.add_argument("--dry-run", action="store_true", help="show what would change; change nothing")
    p.add_argument("--prune", action="store_true", help="also remove entries missing from the file")
    p.add_argument("--if-empty", action="store_true",
                   help="import only into an empty knowledge base (first start); else do nothing")
    p = command("export", "write every entry to a file", "supportbot kb export --format yaml "
                "--output faq.yaml", run_export)
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--format", choices=sorted(set(FORMATS.values())),
                   help="default: from the output file's extension (a name without one is written as given)")
    p = command("index", "build or update the FAQ search index", "supportbot kb index", run_index)
    p.add_argument("--output", type=Path, help="index file (default: $SUPPORTBOT_DATA_DIR/faq.index)")
    p.add_argument("--check", action="store_true", help="show the saved index's header; change nothing")
    kb.set_defaults(run=None)


def _content_options(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--question", required=required)
    parser.add_argument("--answer", required=required, help="plain text; Markdown links allowed")
    parser.add_argument("--alt", action="append", dest="alternatives", metavar="TEXT",
                        help="an alternative phrasing (repeat; on edit, replaces all of them)")
    parser.add_argument("--tag", action="append", dest="tags", metavar="TAG",
                        help="a tag (repeat; on edit, replaces all of them)")
    parser.add_argument("--language", help="language code, default en")
    enabled = parser.add_mutually_exclusive_group()
    enabled.add_argument("--enable", dest="enabled", action="store_const", const=True)
    enabled.add_argument("--disable", dest="enabled", action="store_const", const=False)


def _guarded(run: Handler) -> Handler:
    """Turn the knowledge package's errors into one ``supportbot kb: error: ...`` line."""

    def handler(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except FaqFileError as error:
            raise SystemExit(f"{PREFIX}: error: {error}") from None
        except KnowledgeError as error:
            raise SystemExit(f"{PREFIX}: error: {error}") from None

    return handler


def _store(args: argparse.Namespace) -> FaqStore:
    # A command is one short run: its database closes when the process exits.
    return FaqStore(Database.open(database_url(args.db)))


def _author(args: argparse.Namespace) -> str:
    return args.author or os.environ.get("USER") or getpass.getuser() or "cli"


def run_list(args: argparse.Namespace) -> int:
    entries = _store(args).list(include_removed=args.removed)
    if args.tag:
        entries = [e for e in entries if args.tag in e.tags]
    if args.search:
        needle = args.search.lower()
        entries = [e for e in entries if needle in " ".join((*e.phrasings(), e.answer)).lower()]
    for entry in entries:
        state = "" if entry.enabled else "  [disabled]"
        print(f"{entry.faq_id}\tr{entry.revision}\t{entry.question}{state}")
    print(f"{len(entries)} entries", file=sys.stderr)
    return 0


def run_show(args: argparse.Namespace) -> int:
    print(_describe(_store(args).get(args.faq_id)))
    return 0


def run_add(args: argparse.Namespace) -> int:
    entry = FaqEntry(faq_id=args.faq_id, question=args.question, answer=args.answer,
                     alternatives=tuple(args.alternatives or ()), tags=tuple(args.tags or ()),
                     language=args.language or "en",
                     enabled=True if args.enabled is None else args.enabled)
    saved = _store(args).add(entry, _author(args))
    _warn(saved)
    print(f"added {saved.faq_id} (revision {saved.revision})")
    return 0


def run_edit(args: argparse.Namespace) -> int:
    store = _store(args)
    changes = {name: getattr(args, name) for name in
               ("question", "answer", "alternatives", "tags", "language", "enabled")
               if getattr(args, name) is not None}
    if not changes:
        raise SystemExit(f"{PREFIX}: error: nothing to change; give --question, --answer, --alt, "
                         "--tag, --language, --enable or --disable")
    base = args.base_revision if args.base_revision is not None else store.get(args.faq_id).revision
    saved = store.edit(args.faq_id, base, _author(args), **changes)
    _warn(saved)
    print(f"edited {saved.faq_id} (revision {saved.revision})")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    removed = _store(args).remove(args.faq_id, _author(args), args.base_revision)
    print(f"removed {removed.faq_id} (restore with: supportbot kb restore {removed.faq_id})")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    entry = _store(args).restore(args.faq_id, _author(args))
    print(f"restored {entry.faq_id} (revision {entry.revision})")
    return 0


def run_history(args: argparse.Namespace) -> int:
    for rev in _store(args).history(args.faq_id):
        changed = _changed_fields(rev.before, rev.after)
        print(f"r{rev.revision}\t{rev.created_at}\t{rev.author}\t{rev.action}\t{changed}")
    return 0


def run_revert(args: argparse.Namespace) -> int:
    entry = _store(args).revert(args.faq_id, args.revision, _author(args))
    state = "removed, as it was then" if entry is None else f"now revision {entry.revision}"
    print(f"reverted {args.faq_id} to revision {args.revision} ({state})")
    return 0


def run_import(args: argparse.Namespace) -> int:
    faq_file = read_faq_file(args.file)
    for warning in faq_file.warnings:
        print(f"{PREFIX}: {warning}", file=sys.stderr)
    store = _store(args)
    if args.if_empty and store.kb_revision() > 0:
        print(f"the knowledge base already has entries; {args.file} not imported")
        return 0
    if args.dry_run:
        plan = store.plan_import(faq_file.entries, prune=args.prune)
        print(_plan_summary(plan, "would"))
        return 0
    try:
        plan = store.import_entries(faq_file.entries, _author(args), prune=args.prune)
    except InvalidEntry as error:
        raise FaqFileError(str(args.file), error.problems) from None
    print(_plan_summary(plan, "did"))
    return 0


def run_export(args: argparse.Namespace) -> int:
    output: Path = args.output
    named = FORMATS.get(output.suffix.lower())
    # The path given is the path written: a name without an extension (a named pipe) takes --format.
    if args.format and output.suffix and named != args.format:
        raise SystemExit(f"{PREFIX}: error: --format {args.format} but {output} has "
                         f"extension {output.suffix!r}; use a .{args.format} file name")
    kind = args.format or named
    if kind is None:
        which = f"the extension {output.suffix!r} names no format" if output.suffix else "it has no extension"
        raise SystemExit(f"{PREFIX}: error: {output}: {which}; "
                         f"give --format, or a file name ending in {', '.join(sorted(FORMATS))}")
    entries = _store(args).list()
    write_faq_file(entries, output, kind)
    print(f"exported {len(entries)} entries to {output}")
    return 0


def run_index(args: argparse.Namespace) -> int:
    path: Path = args.output or index_path()
    store = _store(args)
    if args.check:
        index = FaqIndex.load(path)
        header = index.header
        stale = "up to date" if header.faq_revision == store.kb_revision() else "stale"
        print(f"{path}: {len(index)} entries, {header.count} phrasings, dimension "
              f"{header.dimension}, encoder {header.encoder_fingerprint}, lexical {header.lexical}, FAQ "
              f"revision {header.faq_revision} ({stale})")
        return 0
    # Before a trained bundle exists the lexical encoder indexes the FAQ; the runtime
    # re-indexes with its bundle's encoder when it starts.
    if args.output is not None:
        check_place(path)  # the exact path given: no directory made for a typo
    try:
        index, action = open_index(path, store, HashingEncoder())
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    print(f"{action} {path}: {len(index)} entries, {index.header.count} phrasings, "
          f"FAQ revision {index.header.faq_revision}")
    return 0


def _describe(entry: FaqEntry) -> str:
    lines = [f"faq_id:       {entry.faq_id}", f"revision:     {entry.revision} "
             f"({entry.updated_at} by {entry.updated_by})", f"enabled:      {entry.enabled}",
             f"language:     {entry.language}", f"tags:         {', '.join(entry.tags)}",
             f"question:     {entry.question}"]
    lines += [f"alternative:  {a}" for a in entry.alternatives]
    lines += ["answer:", *(f"  {line}" for line in entry.answer.splitlines())]
    return "\n".join(lines)


def _changed_fields(before: FaqEntry | None, after: FaqEntry | None) -> str:
    if before is None or after is None:
        return "whole entry"
    old, new = before.content(), after.content()
    return ", ".join(name for name in new if old.get(name) != new[name]) or "no change"


def _plan_summary(plan: ImportPlan, mood: str) -> str:
    verb = {"would": "would create", "did": "created"}[mood]
    rest = {"would": ("would update", "would remove"), "did": ("updated", "removed")}[mood]
    return (f"{verb} {len(plan.created)}, {rest[0]} {len(plan.updated)}, "
            f"{rest[1]} {len(plan.removed)}, unchanged {len(plan.unchanged)}")


def _warn(entry: FaqEntry) -> None:
    for problem in validate_entry(entry):
        if problem.severity != "error":
            print(f"{PREFIX}: {problem}", file=sys.stderr)
