"""What a benchmark ran on: CPU, cores, Python and the commit, recorded beside every result."""
from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(dirty_paths: Sequence[str] = (".",)) -> str:
    """The commit checked out, with ``+dirty`` when ``dirty_paths`` hold uncommitted changes
    (no paths: no check)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = bool(dirty_paths) and bool(git("status", "--porcelain", "--", *dirty_paths))
    return commit + ("+dirty" if dirty else "")


def describe_machine() -> dict[str, object]:
    """CPU, cores, Python, commit and ``isa``: the int8 instruction set the CPU offers
    (``export.quantize.detect_isa``). Int8 models run about three times faster per message with
    AVX-512 VNNI than with AVX2 alone (``benchmarks/results/load.md``), so results from machines
    of different ``isa`` do not compare."""
    from export.quantize import detect_isa

    return {"cpu": cpu_name(), "cores": os.cpu_count(), "isa": detect_isa(), "python": platform.python_version(),
            "commit": git_commit()}
