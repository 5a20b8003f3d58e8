"""The ``current`` pointer: activate, rollback, listing, and the ``supportbot bundles`` commands."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from bot.cli import main
from bot.models.bundle import load_bundle
from bot.models.manifest import BundleError
from bot.models.store import (
    CURRENT,
    activate,
    current_version,
    default_bundles_dir,
    list_versions,
    resolve_current,
)
from tests.bot.toy_bundle import build_toy_bundle

pytest.importorskip("onnx")


@pytest.fixture()
def bundles(tmp_path: Path) -> Path:
    root = tmp_path / "bundles"
    build_toy_bundle(root, "v1", seed=0)
    build_toy_bundle(root, "v2", seed=1)
    return root


def test_no_current_bundle_is_a_clear_error(bundles: Path) -> None:
    assert current_version(bundles) is None
    with pytest.raises(BundleError, match="no active bundle: run `supportbot bundles activate VERSION`"):
        resolve_current(bundles)


def test_activate_and_rollback_switch_the_pointer(bundles: Path) -> None:
    activate(bundles, "v1")
    assert resolve_current(bundles) == bundles / "v1"
    activate(bundles, "v2")
    assert resolve_current(bundles) == bundles / "v2"
    activate(bundles, "v1")  # rollback
    assert resolve_current(bundles) == bundles / "v1"
    pointer = bundles / CURRENT
    assert pointer.is_symlink() and os.readlink(pointer) == "v1"  # relative: the directory may move
    assert sorted(p.name for p in bundles.iterdir()) == ["current", "v1", "v2"]  # no temp names left
    assert list_versions(bundles) == ["v1", "v2"]


def test_activating_a_corrupted_bundle_keeps_the_current_one(bundles: Path) -> None:
    activate(bundles, "v1")
    (bundles / "v2" / "encoder" / "model.onnx").write_bytes(b"broken")
    with pytest.raises(BundleError, match="encoder/model.onnx: truncated"):
        activate(bundles, "v2")
    assert resolve_current(bundles) == bundles / "v1"


def test_readers_always_see_a_whole_pointer_while_it_flips(bundles: Path) -> None:
    """The rename is atomic: a concurrent reader never finds the pointer missing or half-made."""
    activate(bundles, "v1")
    seen: set[str] = set()
    errors: list[Exception] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                seen.add(resolve_current(bundles).name)
            except BundleError as error:
                errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(200):
            activate(bundles, ("v1", "v2")[i % 2])
    finally:
        stop.set()
        reader.join()
    assert errors == [] and seen <= {"v1", "v2"}


@pytest.mark.parametrize("version", ["../v1", "current", "", "a b"])
def test_bad_version_names_are_refused(bundles: Path, version: str) -> None:
    with pytest.raises(ValueError, match="bad bundle version"):
        activate(bundles, version)


def test_default_bundles_dir_follows_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SUPPORTBOT_DATA_DIR", raising=False)
    assert default_bundles_dir() == Path("data") / "bundles"
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(tmp_path))
    assert default_bundles_dir() == tmp_path / "bundles"


def test_cli_lists_and_activates(bundles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bundles", "activate", "v2", "--dir", str(bundles)]) == 0
    assert "current -> v2" in capsys.readouterr().out
    assert main(["bundles", "list", "--dir", str(bundles)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("  v1 ") and lines[1].startswith("* v2 ")


def test_cli_uses_the_data_dir_from_the_environment(bundles: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SUPPORTBOT_DATA_DIR", str(bundles.parent))
    assert main(["bundles", "activate", "v1"]) == 0
    assert resolve_current(bundles) == bundles / "v1"


def test_cli_refuses_unknown_and_broken_versions(bundles: Path) -> None:
    with pytest.raises(SystemExit, match=r"^supportbot bundles: error: no bundle 'v9' in .*bundles list"):
        main(["bundles", "activate", "v9", "--dir", str(bundles)])
    (bundles / "v2" / "intent" / "head.npz").unlink()
    with pytest.raises(SystemExit, match=r"^supportbot bundles: error: refusing v2: .*head.npz: missing$"):
        main(["bundles", "activate", "v2", "--dir", str(bundles)])


def test_cli_list_of_an_empty_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bundles", "list", "--dir", str(tmp_path)]) == 0
    assert "no bundles in" in capsys.readouterr().out


def test_loading_through_the_current_pointer_pins_the_version(bundles: Path) -> None:
    activate(bundles, "v1")
    bundle = load_bundle(bundles / CURRENT)
    activate(bundles, "v2")
    assert bundle.version == "v1" and bundle.path == (bundles / "v1").resolve()
    assert load_bundle(bundles / CURRENT).version == "v2"
