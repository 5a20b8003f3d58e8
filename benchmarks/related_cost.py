"""CPU time of the related questions ("People also ask") after one FAQ edit: every entry encoded
again (the code before 2b2d573) against only the entries the edit changed, with a real bundle.

Each edit appends a few words to one entry's answer; both ways must give the same neighbours.

    .venv/bin/python benchmarks/related_cost.py --data-dir data     # after `make demo-bundle`
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.brain import Brain, BundleModel  # noqa: E402
from bot.core.policy import Thresholds  # noqa: E402
from bot.core.related import _nearest_entries  # noqa: E402
from bot.models.bundle import load_bundle  # noqa: E402
from bot.models.store import resolve_current  # noqa: E402
from knowledge.database import Database  # noqa: E402
from knowledge.faq.index import FaqIndex  # noqa: E402
from knowledge.faq.store import FaqStore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--edits", type=int, default=7)
    args = parser.parse_args()
    model = BundleModel(load_bundle(resolve_current(args.data_dir / "bundles")))
    entries = {e.faq_id: e for e in FaqStore(Database.open(f"sqlite:///{args.data_dir}/supportbot.db")).list()
               if e.enabled}
    thresholds = Thresholds(0.6, 0.05, 0.12, 0.4)  # not used by the neighbours

    def brain(of: dict[str, Any]) -> Brain:
        return Brain(model, cast(FaqIndex, None), of, thresholds)

    known: dict[str, Any] = {}
    _nearest_entries(brain(entries), 3, known)  # the running server's vectors before the edits
    every, changed = [], []
    for i, faq_id in enumerate(list(entries)[:args.edits]):
        edited = dict(entries, **{faq_id: replace(entries[faq_id], answer=f"{entries[faq_id].answer} (edit {i})")})
        started = time.process_time()
        again = _nearest_entries(brain(edited), 3)
        every.append(time.process_time() - started)
        started = time.process_time()
        kept = _nearest_entries(brain(edited), 3, known)
        changed.append(time.process_time() - started)
        if again != kept:
            raise SystemExit(f"edit {i}: the neighbours differ")
    print(f"{len(entries)} entries, bundle {model.version}, {len(every)} edits: every entry encoded again "
          f"{1000 * statistics.median(every):.1f} ms CPU (median), only the edited entry "
          f"{1000 * statistics.median(changed):.1f} ms; the same neighbours both ways")


if __name__ == "__main__":
    main()
