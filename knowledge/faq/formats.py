"""FAQ files: read and write CSV, YAML and JSON, chosen by the file's extension.

Reading validates everything first and raises one ``FaqFileError`` that lists every bad row
(file, line or entry, field), so staff fix a file in one pass. Nothing is written anywhere.

CSV columns: ``faq_id,question,answer`` and optionally ``alternatives``, ``tags``
(comma-separated), ``language``, ``enabled`` (true/false). This module is the one definition of
that CSV dialect: training (``training.data``) and the export's parity gate (``export.heldout``)
read and write FAQ CSVs through ``split_alternatives``, ``join_alternatives`` and ``csv_text``.
An ``alternatives`` cell holds one phrasing per line; ``|`` also separates phrasings, because
training's FAQ files always allowed it (``a|b`` and two lines ``a``, ``b`` are the same cell).
Alternatives are written one per line.
Spreadsheet formulas: a file written for people (``kb export``, ``logs export``) starts every
cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return)
with an apostrophe (``neutralise_cell``); ``kb import`` takes it off again (``restore_cell``),
so an exported file imports back to the same text.
YAML and JSON: ``{"format": "supportbot-faq", "version": 1, "entries": [{...}, ...]}`` with the
same field names, lists for ``alternatives`` and ``tags`` (a bare list of entries works too).

Example::

    entries = read_faq_file(Path("faq.csv"))        # raises FaqFileError naming every bad row
    write_faq_file(entries, Path("faq.yaml"))
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from knowledge.errors import FaqFileError, Problem
from knowledge.faq.entry import CONTENT_FIELDS, FaqEntry, normalise_entry, validate_entry
from knowledge.output import write_output

FILE_FORMAT = "supportbot-faq"
FILE_VERSION = 1
FORMATS = {".csv": "csv", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}
REQUIRED = ("faq_id", "question", "answer")
ALTERNATIVES_SEPARATOR = "|"  # besides line breaks
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets run as a formula
TRUE_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


@dataclass(frozen=True)
class FaqFile:
    """The entries read from a file, and warnings that do not block an import."""

    entries: tuple[FaqEntry, ...]
    warnings: tuple[Problem, ...]


def format_of(path: Path) -> str:
    """``csv``, ``yaml`` or ``json`` from the extension; a clear error for anything else."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise FaqFileError(str(path), [Problem(str(path), "", f"unknown file type "
                           f"{path.suffix!r}; expected one of {', '.join(sorted(FORMATS))}")]) from None


def read_faq_file(path: Path) -> FaqFile:
    """Read and validate every entry of ``path``; ``FaqFileError`` lists every problem."""
    kind = format_of(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise FaqFileError(str(path), [Problem(str(path), "", f"cannot read: {error.strerror}")]) from None
    text = _decode(raw, str(path))
    records = {"csv": _csv_records, "yaml": _yaml_records, "json": _json_records}[kind](text, str(path))
    problems: list[Problem] = []
    entries: list[FaqEntry] = []
    first_seen: dict[str, str] = {}
    for location, record in records:
        entry = _entry_from_record(record, location, problems)
        if entry is None:
            continue
        if entry.faq_id in first_seen:
            problems.append(Problem(location, "faq_id", f"duplicate id {entry.faq_id!r} "
                                    f"(first at {first_seen[entry.faq_id]})"))
            continue
        first_seen[entry.faq_id] = location
        problems.extend(validate_entry(entry, location))
        entries.append(entry)
    if not records and not problems:
        problems.append(Problem(str(path), "", "the file has no FAQ entries"))
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise FaqFileError(str(path), problems)
    return FaqFile(tuple(entries), tuple(p for p in problems if p.severity != "error"))


def write_faq_file(entries: Sequence[FaqEntry], path: Path, kind: str | None = None) -> None:
    """Write ``entries`` as ``kind`` (``csv``, ``yaml`` or ``json``; default: the format the
    extension names) at exactly ``path`` (``knowledge.output``: ``OutputError`` when it cannot be
    written there)."""
    kind = kind or format_of(path)
    text = {"csv": _csv_file_text, "yaml": _yaml_text, "json": _json_text}[kind](entries)
    write_output(path, text)


# -- the CSV dialect ----------------------------------------------------------------------


def split_alternatives(cell: str) -> tuple[str, ...]:
    """The phrasings of an ``alternatives`` cell: split at line breaks and ``|``, stripped,
    empty ones dropped.

    >>> split_alternatives("Money back?\n refund | \n")
    ('Money back?', 'refund')
    """
    parts = (part for line in cell.splitlines() for part in line.split(ALTERNATIVES_SEPARATOR))
    return tuple(part.strip() for part in parts if part.strip())


def join_alternatives(alternatives: Sequence[str]) -> str:
    """The ``alternatives`` cell for ``alternatives``: one phrasing per line.

    >>> join_alternatives(("Money back?", "refund"))
    'Money back?\nrefund'
    """
    return "\n".join(alternatives)


def neutralise_cell(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet runs as a formula: an apostrophe before a formula
    start (and before apostrophes already leading to one, so ``restore_cell`` undoes exactly this).

    >>> neutralise_cell("=HYPERLINK(\"http://x\")"), neutralise_cell("'=1"), neutralise_cell("it's")
    ('\'=HYPERLINK("http://x")', "''=1", "it's")
    """
    return "'" + text if text.lstrip("'").startswith(FORMULA_STARTS) else text


def restore_cell(text: str) -> str:
    """The text ``neutralise_cell`` was given: ``restore_cell(neutralise_cell(t)) == t``.

    >>> restore_cell("'=1+1"), restore_cell("'tis")
    ('=1+1', "'tis")
    """
    return text[1:] if text.startswith("'") and text.lstrip("'").startswith(FORMULA_STARTS) else text


def csv_text(entries: Sequence[FaqEntry], columns: Sequence[str] = CONTENT_FIELDS,
             neutralise: bool = False) -> str:
    """``entries`` as FAQ CSV with the header ``columns`` (some of ``CONTENT_FIELDS``, in any order);
    with ``neutralise``, cells that a spreadsheet would run as formulas are made text."""
    unknown = [c for c in columns if c not in CONTENT_FIELDS]
    if unknown:
        raise ValueError(f"unknown FAQ CSV columns {unknown}; expected some of {CONTENT_FIELDS}")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for entry in entries:
        cells = {"faq_id": entry.faq_id, "question": entry.question, "answer": entry.answer,
                 "alternatives": join_alternatives(entry.alternatives), "tags": ",".join(entry.tags),
                 "language": entry.language, "enabled": "true" if entry.enabled else "false"}
        writer.writerow([neutralise_cell(cells[c]) if neutralise else cells[c] for c in columns])
    return out.getvalue()


# -- reading ----------------------------------------------------------------------------

Record = tuple[str, dict[str, object]]


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise FaqFileError(name, [Problem(f"{name}, line {line}", "", "not valid UTF-8 (byte "
                           f"{raw[error.start]:#04x}); save the file as UTF-8")]) from None


def _csv_records(text: str, name: str) -> list[Record]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = reader.fieldnames or []
    problems = [Problem(f"{name}, line 1", "", f"missing column {c!r}") for c in REQUIRED if c not in columns]
    problems += [Problem(f"{name}, line 1", "", f"unknown column {c!r}; expected some of "
                         f"{', '.join(CONTENT_FIELDS)}") for c in columns if c not in CONTENT_FIELDS]
    if problems:
        raise FaqFileError(name, problems)
    records: list[Record] = []
    start = 2
    for row in reader:
        location = f"{name}, line {start}"
        start = reader.line_num + 1
        if None in row:
            records.append((location, {"__error__": "more cells than columns"}))
            continue
        record: dict[str, object] = {k: restore_cell(v) for k, v in row.items() if v is not None}
        if "alternatives" in record:
            record["alternatives"] = list(split_alternatives(str(record["alternatives"])))
        if "tags" in record:
            record["tags"] = [t.strip() for t in str(record["tags"]).split(",") if t.strip()]
        if "enabled" in record:
            word = str(record["enabled"]).strip().lower()
            record["enabled"] = TRUE_WORDS.get(word, record["enabled"]) if word else True
        records.append((location, record))
    return records


def _yaml_records(text: str, name: str) -> list[Record]:
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{name}, line {mark.line + 1}" if mark else name
        raise FaqFileError(name, [Problem(where, "", f"not valid YAML: {error}")]) from None
    items = _entries_of(data, name)
    nodes = _entry_nodes(root)
    return [(f"{name}, line {nodes[i].start_mark.line + 1}" if i < len(nodes) else
             f"{name}, entry {i + 1}", item) for i, item in enumerate(items)]


def _json_records(text: str, name: str) -> list[Record]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise FaqFileError(name, [Problem(f"{name}, line {error.lineno}", "",
                                          f"not valid JSON: {error.msg}")]) from None
    return [(f"{name}, entry {i + 1}", item) for i, item in enumerate(_entries_of(data, name))]


def _entries_of(data: object, name: str) -> list[dict[str, object]]:
    if isinstance(data, dict):
        problems = []
        if data.get("format", FILE_FORMAT) != FILE_FORMAT:
            problems.append(Problem(name, "format", f"expected {FILE_FORMAT!r}, got {data.get('format')!r}"))
        if data.get("version", FILE_VERSION) != FILE_VERSION:
            problems.append(Problem(name, "version", f"expected {FILE_VERSION}, got {data.get('version')!r}"))
        if problems:
            raise FaqFileError(name, problems)
        data = data.get("entries")
    if not isinstance(data, list):
        raise FaqFileError(name, [Problem(name, "entries", "expected a list of FAQ entries")])
    return [item if isinstance(item, dict) else {"__error__": "expected a mapping of fields"}
            for item in data]


def _entry_nodes(root: yaml.Node | None) -> list[yaml.Node]:
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "entries" and isinstance(value, yaml.SequenceNode):
                return list(value.value)
        return []
    return list(root.value) if isinstance(root, yaml.SequenceNode) else []


def _entry_from_record(record: dict[str, object], location: str,
                       problems: list[Problem]) -> FaqEntry | None:
    if "__error__" in record:
        problems.append(Problem(location, "", str(record["__error__"])))
        return None
    before = len(problems)
    for key in record:
        if key not in CONTENT_FIELDS:
            problems.append(Problem(location, str(key), f"unknown field; expected some of "
                                    f"{', '.join(CONTENT_FIELDS)}"))
    for key in REQUIRED:
        if not isinstance(record.get(key), (str, int)) or not str(record.get(key)).strip():
            problems.append(Problem(location, key, "missing or empty"))
    for key in ("alternatives", "tags"):
        value = record.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.append(Problem(location, key, "expected a list of texts"))
    if not isinstance(record.get("enabled", True), bool):
        problems.append(Problem(location, "enabled", f"expected true or false, got {record['enabled']!r}"))
    if not isinstance(record.get("language", "en"), str):
        problems.append(Problem(location, "language", "expected a language code such as 'en'"))
    if len(problems) > before:
        return None
    return normalise_entry(FaqEntry(
        faq_id=str(record["faq_id"]), question=str(record["question"]), answer=str(record["answer"]),
        alternatives=tuple(record.get("alternatives", [])),  # type: ignore[arg-type]  # checked above: a list of texts
        tags=tuple(record.get("tags", [])),  # type: ignore[arg-type]  # checked above: a list of texts
        language=str(record.get("language") or "en"), enabled=bool(record.get("enabled", True)),
    ))


# -- writing ----------------------------------------------------------------------------


def _csv_file_text(entries: Sequence[FaqEntry]) -> str:
    return csv_text(entries, neutralise=True)  # staff open these files in spreadsheets


def _document(entries: Sequence[FaqEntry]) -> dict[str, object]:
    return {"format": FILE_FORMAT, "version": FILE_VERSION, "entries": [e.content() for e in entries]}


def _yaml_text(entries: Sequence[FaqEntry]) -> str:
    # safe_dump is typed Any (it returns None when given a stream); without one it returns str
    text: str = yaml.safe_dump(_document(entries), allow_unicode=True, sort_keys=False, width=100)
    return text


def _json_text(entries: Sequence[FaqEntry]) -> str:
    return json.dumps(_document(entries), ensure_ascii=False, indent=2) + "\n"
