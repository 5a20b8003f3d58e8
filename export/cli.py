"""``supportbot export`` and ``supportbot bundles list|activate``.

Imports nothing heavy at module level: torch, transformers and Optimum load inside the export
handler, so ``supportbot bundles ...`` stays a torch-free command.

Examples::

    $ supportbot export --intents artifacts/checkpoints/banking77 --retriever artifacts/checkpoints/stackfaq
    $ supportbot bundles list
    $ supportbot bundles activate v20261129-101500      # rollback = activate the previous version
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.models.manifest import BundleError, read_manifest
from bot.models.store import activate, current_version, default_bundles_dir, list_versions

EXPORT_EXAMPLE = """example:
  supportbot export --intents artifacts/checkpoints/banking77 \\
      --retriever artifacts/checkpoints/stackfaq --out data/bundles

The gate compares the shipped int8 models with the PyTorch checkpoints on the held-out data
stored with them (or given by --heldout-*); a failed gate exits 1, prints the numbers and
publishes nothing. A passing bundle is written to OUT/<version> and made current."""

BUNDLES_EXAMPLE = """examples:
  supportbot bundles list
  supportbot bundles activate v20261129-101500    (rollback: activate the previous version)"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``export`` and ``bundles`` to the root parser's sub-commands."""
    raw = argparse.RawDescriptionHelpFormatter
    export = commands.add_parser(
        "export", help="turn intent and retriever checkpoints into a gated int8 ONNX bundle",
        description="Export both checkpoints to ONNX, quantize to int8, gate against PyTorch, publish.",
        epilog=EXPORT_EXAMPLE, formatter_class=raw)
    export.add_argument("--intents", type=Path, required=True, metavar="DIR", help="intent checkpoint directory")
    export.add_argument("--retriever", type=Path, required=True, metavar="DIR", help="retriever checkpoint directory")
    export.add_argument("--out", type=Path, metavar="BUNDLES_DIR",
                        help="bundles directory (default: $SUPPORTBOT_DATA_DIR/bundles)")
    export.add_argument("--quantization", choices=("per-channel", "per-tensor", "static", "none"),
                        default="per-channel",
                        help="per-channel dynamic int8 (default: measured best on MiniLM), per-tensor dynamic, "
                             "static QDQ calibrated on --calibration texts, or none (fp32)")
    export.add_argument("--isa", choices=("auto", "avx512_vnni", "avx2", "arm64"), default="auto",
                        help="instruction set to quantize for (default: this machine's)")
    export.add_argument("--heldout-intents", type=Path, metavar="CSV",
                        help="text,label rows (default: DIR/heldout.csv)")
    export.add_argument("--heldout-faq", type=Path, metavar="CSV", help="faq_id,question,answer rows")
    export.add_argument("--heldout-queries", type=Path, metavar="CSV", help="query,faq_id rows")
    export.add_argument("--calibration", type=Path, metavar="CSV", help="'text' column of sample messages (static)")
    export.add_argument("--version", metavar="NAME", help="bundle version (default: vYYYYMMDD-HHMMSS, UTC)")
    export.add_argument("--no-activate", action="store_true", help="publish without switching 'current'")
    export.add_argument("--fp32-fallback", action="store_true",
                        help="ship a model in fp32 (not int8) when its int8 form fails the parity gate, instead "
                             "of failing the export; for small held-out sets where one example is a point")
    export.add_argument("--max-accuracy-drop", type=float, default=0.3, metavar="POINTS",
                        help="gate: intent accuracy drop allowed (default 0.3)")
    export.add_argument("--max-recall-drop", type=float, default=0.5, metavar="POINTS",
                        help="gate: recall@1 drop allowed (default 0.5)")
    export.add_argument("--min-cosine", type=float, default=0.99, metavar="C",
                        help="gate: mean embedding cosine to PyTorch required (default 0.99)")
    export.set_defaults(run=run_export)

    bundles = commands.add_parser("bundles", help="list bundle versions or switch the active one",
                                  description="Show and switch runtime bundle versions.",
                                  epilog=BUNDLES_EXAMPLE, formatter_class=raw)
    actions = bundles.add_subparsers(dest="bundles_action", metavar="ACTION")
    listing = actions.add_parser("list", help="show versions, the current one starred",
                                 epilog="example:\n  supportbot bundles list --dir data/bundles", formatter_class=raw)
    listing.add_argument("--dir", type=Path, metavar="BUNDLES_DIR", help="default: $SUPPORTBOT_DATA_DIR/bundles")
    listing.set_defaults(run=run_list)
    switch = actions.add_parser("activate", help="verify and load a version, then make it current (also rollback)",
                                epilog="example:\n  supportbot bundles activate v20261129-101500", formatter_class=raw)
    switch.add_argument("version", metavar="VERSION")
    switch.add_argument("--dir", type=Path, metavar="BUNDLES_DIR", help="default: $SUPPORTBOT_DATA_DIR/bundles")
    switch.set_defaults(run=run_activate)


def run_export(args: argparse.Namespace) -> int:
    from export.gate import Tolerances, describe_resolution, format_table
    from export.publish import export_bundle
    from export.request import EXPORT_ERRORS, ExportOptions, ExportRequest

    try:
        options = ExportOptions(
            quantization=args.quantization, isa=args.isa, calibration=args.calibration,
            tolerances=Tolerances(args.max_accuracy_drop, args.max_recall_drop, args.min_cosine),
            fp32_fallback=args.fp32_fallback,
        )
        request = ExportRequest(
            intents=args.intents, retriever=args.retriever, bundles_dir=args.out or default_bundles_dir(),
            options=options, heldout_intents=args.heldout_intents, heldout_faq=args.heldout_faq,
            heldout_queries=args.heldout_queries, version=args.version, activate=not args.no_activate,
        )
        result = export_bundle(request)
    except EXPORT_ERRORS as error:
        raise SystemExit(f"supportbot export: error: {error}") from None
    table = f"{format_table(result.metrics)}\n{describe_resolution(result.heldout_rows)}"
    if not result.passed:
        lines = "\n".join(f"  - {failure.message}" for failure in result.failures)
        print(f"{table}\nsupportbot export: parity gate failed; nothing published:\n{lines}", file=sys.stderr)
        return 1
    state = "current" if request.activate else "not activated"
    print(f"{table}\npublished {result.path} ({state})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    bundles_dir = args.dir or default_bundles_dir()
    versions = list_versions(bundles_dir)
    if not versions:
        print(f"no bundles in {bundles_dir}")
        return 0
    current = current_version(bundles_dir)
    for version in versions:
        print(("* " if version == current else "  ") + _describe(bundles_dir / version))
    return 0


def _describe(bundle_dir: Path) -> str:
    try:
        manifest = read_manifest(bundle_dir)
    except BundleError as error:
        return f"{bundle_dir.name}  unreadable: {error.reason}"
    shipped = manifest.metrics.get("onnx_int8") or manifest.metrics.get("onnx_fp32") or {}
    scores = "  ".join(f"{k} {shipped[k]:.2%}" for k in ("accuracy", "recall_at_1") if k in shipped)
    return f"{manifest.version}  {manifest.created_at}  {manifest.quantization}  {scores}"


def run_activate(args: argparse.Namespace) -> int:
    bundles_dir = args.dir or default_bundles_dir()
    if args.version not in list_versions(bundles_dir):
        raise SystemExit(f"supportbot bundles: error: no bundle {args.version!r} in {bundles_dir}; "
                         f"see `supportbot bundles list`")
    from bot.models.bundle import load_bundle

    try:
        # Checksums alone pass a bundle whose files cannot load; the server would then fail at its
        # next start. Load it once, the way the server will, before switching.
        load_bundle(bundles_dir / args.version)
        activate(bundles_dir, args.version)
    except BundleError as error:
        raise SystemExit(f"supportbot bundles: error: refusing {args.version}: {error}") from None
    print(f"current -> {args.version}")
    return 0
