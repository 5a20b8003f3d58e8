"""An export as a value: what ``supportbot export`` (or retraining) asks for and what comes back.

``ExportOptions`` say how to quantize and gate, ``ExportRequest`` names the checkpoints, the
held-out data and where the bundle goes, ``ExportResult`` is the gate's structured outcome;
``export.publish.export_bundle`` turns one into the other.

Example::

    request = ExportRequest(Path("ckpt/intents"), Path("ckpt/retriever"), Path("data/bundles"),
                            options=ExportOptions(fp32_fallback=True))
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from bot.models.manifest import BundleError
from export.checkpoint import CheckpointError
from export.gate import GateFailure, Metrics, Model, Tolerances
from export.heldout import HeldoutError
from export.onnx_export import ExportError
from export.quantize import ISAS, SCHEMES
from export.recorded import RecordedCheck


class PublishError(Exception):
    """The export cannot start or finish (bad request, existing version); one clear line."""


# Everything ``export_bundle`` raises for bad input or a refused bundle, each one clear line; a
# failed gate is not among them: it is a result (``ExportResult.failures``).
EXPORT_ERRORS = (CheckpointError, HeldoutError, ExportError, PublishError, BundleError, ValueError)


@dataclass(frozen=True)
class ExportOptions:
    """How to quantize and gate: everything about an export but its inputs, data and output.

    ``supportbot export`` builds it from its flags; retraining takes one as an option.

    Example::

        ExportOptions(quantization="none")                          # fp32 bundle
        ExportOptions(tolerances=Tolerances(min_cosine=0.995), fp32_fallback=True)
    """

    quantization: str = "per-channel"
    isa: str = "auto"
    calibration: Path | None = None  # CSV with a ``text`` column; required for ``static``
    tolerances: Tolerances = field(default_factory=Tolerances)
    fp32_fallback: bool = False  # ship a model in fp32 when its quantized form fails the gate

    def __post_init__(self) -> None:
        if self.quantization not in SCHEMES:
            raise PublishError(f"unknown quantization {self.quantization!r}; expected one of {list(SCHEMES)}")
        if self.isa != "auto" and self.isa not in ISAS:
            raise PublishError(f"unknown instruction set {self.isa!r}; expected auto or one of {list(ISAS)}")
        if self.quantization == "static" and self.calibration is None:
            raise PublishError("static quantization needs --calibration CSV (a 'text' column of sample messages)")


@dataclass(frozen=True)
class ExportRequest:
    """What ``supportbot export`` was asked to do; held-out paths default to the checkpoints'."""

    intents: Path
    retriever: Path
    bundles_dir: Path
    options: ExportOptions = field(default_factory=ExportOptions)
    heldout_intents: Path | None = None
    heldout_faq: Path | None = None
    heldout_queries: Path | None = None
    version: str | None = None  # default: the UTC time, vYYYYMMDD-HHMMSS
    activate: bool = True

    def __post_init__(self) -> None:
        if (self.heldout_faq is None) != (self.heldout_queries is None):
            raise PublishError("give the held-out FAQ and queries together (--heldout-faq with --heldout-queries)")


@dataclass(frozen=True)
class ExportResult:
    version: str
    path: Path | None  # the published bundle; None when the gate failed
    metrics: dict[str, Metrics]  # pytorch_fp32, onnx_fp32 and the shipped variant
    failures: tuple[GateFailure, ...]
    heldout_rows: dict[str, int]
    fp32_models: tuple[Model, ...] = ()  # models shipped in fp32 because their int8 form failed the gate
    recorded: RecordedCheck = RecordedCheck({}, {}, ())  # training's metrics against the re-measured ones

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def verdict(self) -> str:
        """The gate's decision in words, e.g. 'passed (intent kept in fp32)' or 'failed: ...'."""
        kept = f" ({', '.join(self.fp32_models)} kept in fp32)" if self.fp32_models else ""
        if self.passed:
            return "passed" + kept
        return "failed" + kept + ": " + "; ".join(f.message for f in self.failures)

    def report(self) -> dict[str, object]:
        """The result as JSON-ready data, e.g. for the retraining report."""
        return {
            "version": self.version, "verdict": self.verdict, "published": str(self.path) if self.path else None,
            "metrics": {name: m.as_dict() for name, m in self.metrics.items()},
            "failures": [asdict(f) | {"message": f.message} for f in self.failures],
            "fp32_fallback": list(self.fp32_models), "heldout_rows": self.heldout_rows,
            "checkpoint_metrics": self.recorded.as_metrics(),
        }
