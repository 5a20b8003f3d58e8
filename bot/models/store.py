"""The bundle store: version directories under ``BUNDLES_DIR`` and the ``current`` pointer.

Layout (each version written once by ``supportbot export``, never edited)::

    BUNDLES_DIR/
      current -> v20261129-101500       symlink naming the active version, swapped atomically
      v20261129-101500/                 manifest.json + models (``bot.models.manifest``)

The one place that resolves, lists and switches versions: the runtime, the ``bundles``
commands, the export and retraining all go through it.

Example::

    activate(Path("data/bundles"), "v20261129-101500")
    resolve_current(Path("data/bundles"))      # .../v20261129-101500
"""
from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from bot.models.manifest import MANIFEST, BundleError, verify_bundle
from knowledge.location import data_dir

CURRENT = "current"
_VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # fullmatch: "$" lets "\n" in


def default_bundles_dir() -> Path:
    """``$SUPPORTBOT_DATA_DIR/bundles``; the data directory defaults to ``./data``."""
    return data_dir() / "bundles"


def check_version_name(version: str) -> str:
    """Return ``version`` if it can name a bundle directory, else raise ``ValueError``."""
    if not _VERSION_NAME.fullmatch(version) or version == CURRENT:
        raise ValueError(f"bad bundle version {version!r}: use letters, digits, '.', '_' or '-'")
    return version


def list_versions(bundles_dir: Path) -> list[str]:
    """The bundle versions in ``bundles_dir`` (directories with a manifest), oldest name first."""
    if not bundles_dir.is_dir():
        return []
    return sorted(
        p.name for p in bundles_dir.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and (p / MANIFEST).is_file()
    )


def current_version(bundles_dir: Path) -> str | None:
    """The version the ``current`` pointer names, or None when nothing was activated yet."""
    pointer = bundles_dir / CURRENT
    return os.readlink(pointer) if pointer.is_symlink() else None


def resolve_current(bundles_dir: Path) -> Path:
    """The directory of the active bundle; ``BundleError`` when there is none."""
    version = current_version(bundles_dir)
    if version is None:
        raise BundleError(bundles_dir / CURRENT, "no active bundle: run `supportbot bundles activate VERSION`")
    target = bundles_dir / version
    if not target.is_dir():
        raise BundleError(target, "the current pointer names a bundle that does not exist")
    return target


def activate(bundles_dir: Path, version: str) -> Path:
    """Verify bundle ``version`` and point ``current`` at it in one atomic rename.

    A reader sees the old pointer or the new one, never none. Rollback = activate the old version.
    """
    target = bundles_dir / check_version_name(version)
    verify_bundle(target)
    temp = bundles_dir / f".{CURRENT}.{uuid.uuid4().hex}"
    os.symlink(version, temp, target_is_directory=True)  # relative: the directory may move
    try:
        os.replace(temp, bundles_dir / CURRENT)
    except OSError:
        temp.unlink()
        raise
    return target
