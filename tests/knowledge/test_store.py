from __future__ import annotations

import pytest

from knowledge.database import Database
from knowledge.errors import EditConflict, EntryExists, EntryNotFound, InvalidEntry
from knowledge.faq.store import FaqStore
from tests.knowledge.conftest import make_entry


def test_add_get_list(store: FaqStore) -> None:
    saved = store.add(make_entry(), "ana")
    assert saved.revision == 1 and saved.updated_by == "ana" and saved.updated_at
    got = store.get("returns")
    assert got == saved
    assert got.alternatives == ("How do returns work?", "I want to send something back")
    store.add(make_entry("shipping", question="How long is delivery?"), "ana")
    assert [e.faq_id for e in store.list()] == ["returns", "shipping"]


def test_add_normalises_whitespace_and_duplicate_alternatives(store: FaqStore) -> None:
    saved = store.add(make_entry(question="  Can I return?  ",
                                 alternatives=(" a ", "a", "", "Can I return?")), "ana")
    assert saved.question == "Can I return?"
    assert saved.alternatives == ("a",)


def test_add_existing_id_is_refused(store: FaqStore) -> None:
    store.add(make_entry(), "ana")
    with pytest.raises(EntryExists):
        store.add(make_entry(), "ben")


def test_invalid_entry_lists_every_problem(store: FaqStore) -> None:
    with pytest.raises(InvalidEntry) as caught:
        store.add(make_entry("bad id!", question=" ", answer=""), "ana")
    fields = {p.field for p in caught.value.problems}
    assert fields == {"faq_id", "question", "answer"}
    assert store.list() == []


def test_edit_bumps_revision_and_records_before_after(store: FaqStore) -> None:
    store.add(make_entry(), "ana")
    edited = store.edit("returns", base_revision=1, author="ben", answer="Yes, within 60 days.")
    assert edited.revision == 2 and edited.updated_by == "ben"
    history = store.history("returns")
    assert [(r.revision, r.action, r.author) for r in history] == [(1, "create", "ana"), (2, "edit", "ben")]
    assert history[1].before.answer == "Yes, within 30 days of delivery."
    assert history[1].after.answer == "Yes, within 60 days."
    assert history[0].before is None


def test_stale_edit_is_refused_and_changes_nothing(store: FaqStore) -> None:
    store.add(make_entry(), "ana")
    store.edit("returns", base_revision=1, author="ana", answer="Ana's answer")
    with pytest.raises(EditConflict) as caught:
        store.edit("returns", base_revision=1, author="ben", answer="Ben's answer")
    assert caught.value.current_revision == 2
    assert "revision 2" in str(caught.value) and "revision 1" in str(caught.value)
    assert store.get("returns").answer == "Ana's answer"
    assert len(store.history("returns")) == 2


def test_edit_unknown_field_is_refused(store: FaqStore) -> None:
    store.add(make_entry(), "ana")
    with pytest.raises(InvalidEntry, match="revision"):
        store.edit("returns", 1, "ana", revision=7)
    assert store.get("returns").revision == 1


def test_edit_unknown_entry(store: FaqStore) -> None:
    with pytest.raises(EntryNotFound):
        store.edit("nope", 1, "ana", answer="x")


def test_remove_restore_and_history(store: FaqStore) -> None:
    store.add(make_entry(), "ana")
    store.remove("returns", "ben")
    with pytest.raises(EntryNotFound, match="removed"):
        store.get("returns")
    assert store.list() == []
    assert [e.faq_id for e in store.list(include_removed=True)] == ["returns"]
    with pytest.raises(EntryExists, match="restore"):
        store.add(make_entry(), "ana")
    restored = store.restore("returns", "ana")
    assert restored.revision == 3
    assert store.get("returns").answer == "Yes, within 30 days of delivery."
    assert [r.action for r in store.history("returns")] == ["create", "remove", "restore"]


def test_stale_remove_is_refused(store: FaqStore) -> None:
    store.add(make_entry(), "ana")
    store.edit("returns", 1, "ana", answer="new")
    with pytest.raises(EditConflict):
        store.remove("returns", "ben", base_revision=1)
    assert store.get("returns").answer == "new"


def test_revert_to_any_revision(store: FaqStore) -> None:
    store.add(make_entry(), "ana")
    store.edit("returns", 1, "ana", answer="second")
    store.edit("returns", 2, "ana", answer="third", tags=["policy"])
    reverted = store.revert("returns", 1, "ben")
    assert reverted is not None and reverted.revision == 4
    assert reverted.answer == "Yes, within 30 days of delivery." and reverted.tags == ("returns",)
    assert store.history("returns")[-1].action == "revert"
    store.revert("returns", 3, "ben")
    assert store.get("returns").answer == "third"


def test_revert_restores_a_removed_entry_and_can_remove(store: FaqStore) -> None:
    store.add(make_entry(), "ana")
    store.remove("returns", "ana")  # revision 2 is the removal
    assert store.revert("returns", 1, "ben").answer.startswith("Yes")
    assert store.revert("returns", 2, "ben") is None
    with pytest.raises(EntryNotFound):
        store.get("returns")


def test_revert_unknown_revision(store: FaqStore) -> None:
    store.add(make_entry(), "ana")
    with pytest.raises(EntryNotFound, match="revision 9"):
        store.revert("returns", 9, "ana")


def test_kb_revision_and_changed_since(store: FaqStore) -> None:
    assert store.kb_revision() == 0
    store.add(make_entry("a"), "ana")
    store.add(make_entry("b"), "ana")
    mark = store.kb_revision()
    store.edit("b", 1, "ana", answer="changed")
    assert store.kb_revision() == mark + 1
    assert store.changed_since(mark) == ["b"]
    assert store.changed_since(0) == ["a", "b"]


def test_import_is_all_or_nothing(store: FaqStore) -> None:
    store.add(make_entry("keep"), "ana")
    good = make_entry("new")
    bad = make_entry("broken", answer="")
    with pytest.raises(InvalidEntry):
        store.import_entries([good, bad], "ana")
    assert [e.faq_id for e in store.list()] == ["keep"]


def test_import_plan_create_update_unchanged_prune(store: FaqStore) -> None:
    store.add(make_entry("same"), "ana")
    store.add(make_entry("changes"), "ana")
    store.add(make_entry("gone"), "ana")
    entries = [make_entry("same"), make_entry("changes", answer="new answer"), make_entry("fresh")]
    plan = store.plan_import(entries, prune=True)
    assert (plan.created, plan.updated, plan.unchanged, plan.removed) == (
        ("fresh",), ("changes",), ("same",), ("gone",))
    assert store.kb_revision() == 3  # planning changed nothing
    done = store.import_entries(entries, "importer", prune=True)
    assert done == plan
    assert store.get("changes").answer == "new answer" and store.get("changes").revision == 2
    assert [e.faq_id for e in store.list()] == ["changes", "fresh", "same"]
    assert store.history("gone")[-1].action == "import"


def test_wal_mode_is_on(tmp_path) -> None:
    with Database.open(f"sqlite:///{tmp_path / 'kb.db'}") as database, database.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"


def test_two_store_objects_share_one_database(database_url: str) -> None:
    url = database_url
    first, second = FaqStore(Database.open(url)), FaqStore(Database.open(url))
    base = first.add(make_entry(), "ana").revision
    second.edit("returns", base, "ben", answer="from the second process")
    with pytest.raises(EditConflict):
        first.edit("returns", base, "ana", answer="stale")
    assert first.get("returns").answer == "from the second process"
    first.database.close()
    second.database.close()
