"""The FAQ index: hybrid search over every phrasing of every enabled entry.

An entry has several phrasings (its question and each alternative); each has a vector in a
FAISS inner-product index and a document in a lexical BM25 index (``knowledge.faq.lexical``).
A search ranks entries by their best-matching phrasing and says which text matched. Given
only the query vector it ranks by cosine; given the query text too and a ``lexical_weight``
above 0 (the retriever's, calibrated in training), by the fused score
``(1 - weight) * cosine + weight * normalised BM25``. The index takes any ``Encoder``
(texts -> L2-normalised float32 rows), so this package needs no model code.

Saved as one file, written to a temporary name and renamed, that begins with a header:
format version, encoder fingerprint, FAQ revision, count, dimension, document mode, lexical
scheme and checksums of the vectors and of the lexical documents. Loading checks all of them
and refuses a mismatch.

Example::

    index = FaqIndex.build(store.list(), encoder, faq_revision=store.kb_revision(), lexical_weight=0.4)
    index.search(encoder.encode(["where is my parcel"])[0], k=3, text="where is my parcel")  # [Hit(...), ...]
    index.save(Path("data/faq.index"))
"""
from __future__ import annotations

import builtins
import hashlib
import json
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import faiss
import numpy as np

from knowledge.errors import FaqIndexError, IndexMismatch
from knowledge.faq.documents import check_document_mode, document_texts
from knowledge.faq.entry import FaqEntry
from knowledge.faq.lexical import SCHEME, LexicalIndex, fuse

# One query at a time is the runtime's pattern: FAISS's OpenMP threads only add overhead there
# (a single flat search measured slower with 2 threads than with 1). OpenMP keeps this setting
# per thread, so ``search`` repeats it in whichever thread it runs: in the server's inference
# thread, next to onnxruntime, a team of 2 made each search wait for the busy core.
faiss.omp_set_num_threads(1)

INDEX_FORMAT_VERSION = 2  # 2: the lexical index joined the vectors
MAGIC = b"SUPPORTBOT-FAQ-INDEX\n"


class Encoder(Protocol):
    """Turns texts into an L2-normalised float32 matrix [len(texts), dimension]."""

    @property
    def fingerprint(self) -> str: ...  # changes whenever the vectors would change

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Hit:
    """One FAQ entry found for a query, by its best-matching phrasing."""

    faq_id: str
    score: float  # cosine of the query and ``matched``, or with the query text the fused score

    matched: str  # the question or alternative that matched best
    # How much of the query's wording the whole entry (phrasings and answer) shares, when the
    # bot scored it (``knowledge.faq.wording``): the policy breaks near ties with it.
    words: float | None = None


@dataclass(frozen=True)
class IndexHeader:
    format_version: int
    encoder_fingerprint: str
    faq_revision: int
    count: int
    dimension: int
    document: str
    lexical: str  # the lexical scheme (``knowledge.faq.lexical.SCHEME``) its documents were cut with


class FaqIndex:
    """Vectors of FAQ phrasings with their entry ids; see the module docstring."""

    def __init__(self, header: IndexHeader, vectors: faiss.IndexIDMap2, phrasings: dict[int, tuple[str, str]],
                 lexical: LexicalIndex, lexical_weight: float = 0.0) -> None:
        if not 0.0 <= lexical_weight <= 1.0:
            raise ValueError(f"lexical_weight must be in [0, 1], got {lexical_weight}")
        self.header = header
        self.lexical_weight = lexical_weight  # how much the lexical score counts when a search has the text
        self._vectors = vectors
        self._phrasings = phrasings  # vector id -> (faq_id, phrasing)
        self._lexical = lexical  # vector id -> the same phrasing's document, for BM25
        self._next_id = max(phrasings, default=-1) + 1

    @classmethod
    def build(cls, entries: Sequence[FaqEntry], encoder: Encoder, faq_revision: int,
              document: str = "question", lexical_weight: float = 0.0) -> FaqIndex:
        """Encode every enabled entry's phrasings into a new index."""
        check_document_mode(document)
        dimension = int(encoder.encode(["dimension probe"]).shape[1])
        header = IndexHeader(INDEX_FORMAT_VERSION, encoder.fingerprint, faq_revision, 0,
                             dimension, document, SCHEME)
        index = cls(header, faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)), {}, LexicalIndex(), lexical_weight)
        index._add([e for e in entries if e.enabled], encoder)
        index._set(faq_revision=faq_revision)
        return index

    @property
    def faq_ids(self) -> set[str]:
        return {faq_id for faq_id, _ in self._phrasings.values()}

    def __len__(self) -> int:
        return len(self.faq_ids)

    def search(self, query: np.ndarray, k: int = 3, text: str | None = None) -> list[Hit]:
        """The ``k`` best entries for one query vector [dimension], best first.

        With the query's ``text`` and a ``lexical_weight`` above 0 the ranking and the scores
        are hybrid (see the module docstring). Without the text the lexical half adds nothing:
        the ranking is the cosine's and the score ``(1 - lexical_weight) * cosine``, never above
        the hybrid score, so a caller without the text is never more sure than hybrid search.
        """
        total = self._vectors.ntotal
        if total == 0 or k <= 0:
            return []
        faiss.omp_set_num_threads(1)  # this thread's OpenMP setting: see the top of the module
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)  # [1, dimension]
        candidates: Callable[[int], tuple[np.ndarray, np.ndarray]]  # wanted -> (scores, vector ids)
        if text is not None and self.lexical_weight > 0:
            candidates = partial(_best, *self._fused(query, text))
        else:
            candidates = partial(self._nearest, query)
        wanted = min(total, max(4 * k, 16))  # phrasings, best first, until they cover k entries
        while True:
            hits: dict[str, Hit] = {}
            for score, vector_id in zip(*candidates(wanted)):
                faq_id, phrasing = self._phrasings[int(vector_id)]
                hits.setdefault(faq_id, Hit(faq_id, float(score), phrasing))
            if len(hits) >= k or wanted >= total:
                return list(hits.values())[:k]
            wanted = min(total, wanted * 4)

    def _nearest(self, query: np.ndarray, wanted: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``wanted`` highest cosines, fused with a lexical score of 0, and their vector ids, best first."""
        scores, ids = self._vectors.search(query, wanted)  # each [1, wanted]
        keep = ids[0] >= 0
        return fuse(scores[0][keep], 0.0, self.lexical_weight), ids[0][keep]

    def _fused(self, query: np.ndarray, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The hybrid score of every phrasing and its vector id, in no order.

        Every cosine comes from a range search with no floor (the scan a flat index does anyway,
        unsorted; not numpy's matrix product, whose BLAS threads wait for busy cores as FAISS's
        do), the lexical scores from one pass over the query terms' postings.
        """
        _, cosines, ids = self._vectors.range_search(query, -np.inf)  # each [ntotal]
        lexical = self._lexical.scores(text, self._next_id)  # [next_id], by vector id
        return fuse(cosines, lexical[ids], self.lexical_weight), ids

    def copy(self) -> FaqIndex:
        """An independent copy: update it while searches go on in the original."""
        vectors = _id_map(faiss.deserialize_index(faiss.serialize_index(self._vectors)))
        return FaqIndex(self.header, vectors, dict(self._phrasings), self._lexical.copy(), self.lexical_weight)

    def update(self, changed: Sequence[str], entries: Sequence[FaqEntry], encoder: Encoder,
               faq_revision: int) -> None:
        """Re-encode only the ``changed`` ids: drop their vectors, add what ``entries`` has now.

        ``entries`` holds the current version of the changed entries; ids missing from it
        (removed) or disabled ones just leave the index.
        """
        self._check_encoder(encoder.fingerprint)
        changed_set = set(changed)
        stale = [i for i, (faq_id, _) in self._phrasings.items() if faq_id in changed_set]
        if stale:
            # FAISS's Python wrapper takes int64 ids here (it builds the IDSelectorBatch).
            self._vectors.remove_ids(np.asarray(stale, dtype=np.int64))  # type: ignore[arg-type]  # faiss stubs list only IDSelector
            for vector_id in stale:
                del self._phrasings[vector_id]
            self._lexical.remove(stale)
        self._add([e for e in entries if e.faq_id in changed_set and e.enabled], encoder)
        self._set(faq_revision=faq_revision)

    def save(self, path: Path) -> None:
        """Write the index atomically: a crash leaves the previous file as it was."""
        table = [[i, faq_id, text] for i, (faq_id, text) in sorted(self._phrasings.items())]
        vectors = faiss.serialize_index(self._vectors).tobytes()
        lexical = json.dumps(self._lexical.to_json(), ensure_ascii=False).encode("utf-8")
        payload = vectors + lexical
        meta = {**self.header.__dict__, "phrasings": table, "lexical_bytes": len(lexical),
                "payload_sha256": hashlib.sha256(payload).hexdigest()}
        head = json.dumps(meta, ensure_ascii=False).encode("utf-8")
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "wb") as out:
                out.write(MAGIC + struct.pack("<Q", len(head)) + head + payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, encoder_fingerprint: str | None = None,
             faq_revision: int | None = None, lexical_weight: float = 0.0) -> FaqIndex:
        """Read an index; refuse a damaged file or one built with another encoder or revision."""
        try:
            data = path.read_bytes()
        except OSError as error:
            raise FaqIndexError(f"{path}: cannot read the FAQ index: {error.strerror}") from None
        meta, payload = _split(data, path)
        if meta.get("format_version") != INDEX_FORMAT_VERSION:
            raise FaqIndexError(f"{path}: index format {meta.get('format_version')!r}, this version "
                                f"reads {INDEX_FORMAT_VERSION}; rebuild it (supportbot kb index)")
        if hashlib.sha256(payload).hexdigest() != meta.pop("payload_sha256", None):
            raise FaqIndexError(f"{path}: the index file is damaged (checksum mismatch); rebuild it")
        try:
            phrasings = {int(i): (faq_id, text) for i, faq_id, text in meta.pop("phrasings")}
            split = len(payload) - int(meta.pop("lexical_bytes"))
            header = IndexHeader(**meta)
        except (KeyError, TypeError, ValueError):
            raise FaqIndexError(f"{path}: the index header is damaged; rebuild it") from None
        vectors = _id_map(faiss.deserialize_index(np.frombuffer(payload[:split], dtype=np.uint8)), path)
        index = cls(header, vectors, phrasings, _lexical(payload[split:], path), lexical_weight)
        if encoder_fingerprint is not None:
            index._check_encoder(encoder_fingerprint, path)
        if faq_revision is not None and header.faq_revision != faq_revision:
            raise IndexMismatch(f"{path}: built from FAQ revision {header.faq_revision}, the "
                                f"knowledge base is at revision {faq_revision}; rebuild or update it")
        return index

    def _add(self, entries: Sequence[FaqEntry], encoder: Encoder) -> None:
        texts: list[str] = []
        owners: list[tuple[str, str]] = []
        for entry in entries:
            for phrasing, text in zip(entry.phrasings(), document_texts(entry, self.header.document)):
                texts.append(text)
                owners.append((entry.faq_id, phrasing))
        if not texts:
            return
        vectors = np.ascontiguousarray(encoder.encode(texts), dtype=np.float32)  # [n, dimension]
        if vectors.shape != (len(texts), self.header.dimension):
            raise FaqIndexError(f"encoder returned shape {vectors.shape}, expected "
                                f"({len(texts)}, {self.header.dimension})")
        ids = np.arange(self._next_id, self._next_id + len(texts), dtype=np.int64)
        self._vectors.add_with_ids(vectors, ids)
        self._phrasings.update(zip(ids.tolist(), owners))
        self._lexical.add(dict(zip(ids.tolist(), texts)))
        self._next_id += len(texts)

    def _set(self, **changes: object) -> None:
        values = {**self.header.__dict__, **changes, "count": self._vectors.ntotal}
        self.header = IndexHeader(**values)

    def _check_encoder(self, fingerprint: str, path: Path | None = None) -> None:
        if fingerprint != self.header.encoder_fingerprint:
            where = f"{path}: " if path else ""
            raise IndexMismatch(f"{where}built with encoder {self.header.encoder_fingerprint[:12]}, "
                                f"the current encoder is {fingerprint[:12]}; rebuild the index")


def _split(data: bytes, path: Path) -> tuple[dict[str, Any], bytes]:
    start = len(MAGIC) + 8
    if not data.startswith(MAGIC) or len(data) < start:
        raise FaqIndexError(f"{path}: not a supportbot FAQ index (or truncated)")
    (length,) = struct.unpack("<Q", data[len(MAGIC):start])
    try:
        meta = json.loads(data[start:start + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise FaqIndexError(f"{path}: the index header is damaged or truncated; rebuild it") from None
    return meta, data[start + length:]


def _best(scores: np.ndarray, ids: np.ndarray, wanted: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``wanted`` highest ``scores`` with their ``ids``, best first (ties: the older phrasing)."""
    top = np.argpartition(-scores, wanted - 1)[:wanted] if wanted < len(scores) else np.arange(len(scores))
    top = top[np.lexsort((ids[top], -scores[top]))]
    return scores[top], ids[top]


def _lexical(data: bytes, path: Path) -> LexicalIndex:
    try:
        return LexicalIndex.from_json(json.loads(data.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError) as error:
        raise FaqIndexError(f"{path}: the lexical part of the index cannot be read ({error}); rebuild it") from None


def _id_map(vectors: faiss.Index, path: Path | None = None) -> faiss.IndexIDMap2:
    """The deserialised index as the id map it was saved as (FAISS gives back the saved class)."""
    if not isinstance(vectors, faiss.IndexIDMap2):
        where = f"{path}: " if path else ""
        raise FaqIndexError(f"{where}holds a {type(vectors).__name__}, not a FAQ index; rebuild it")
    return vectors


class FaqSource(Protocol):
    """What ``open_index`` needs from the store (``knowledge.faq.store.FaqStore`` has it)."""

    def list(self, include_removed: bool = False) -> list[FaqEntry]: ...

    def kb_revision(self) -> int: ...

    # ``list`` above names the method inside this class: ``builtins.list`` is the type.
    def changed_since(self, kb_revision: int) -> builtins.list[str]: ...


def open_index(path: Path, source: FaqSource, encoder: Encoder, document: str = "question",
               lexical_weight: float = 0.0) -> tuple[FaqIndex, str]:
    """The index at ``path`` brought up to date with ``source``, and what was done.

    Loads the saved index when it was built with this encoder and document mode, re-encodes
    only the entries changed since, and saves it; otherwise (missing, damaged, older format,
    other encoder) builds it anew. Searches weigh the lexical score by ``lexical_weight``.
    Returns the index and ``"loaded"``, ``"updated"`` or ``"built"``.
    """
    revision = source.kb_revision()
    try:
        index = FaqIndex.load(path, encoder_fingerprint=encoder.fingerprint, lexical_weight=lexical_weight)
    except FaqIndexError:
        index = None
    if index is None or index.header.document != document:
        index = FaqIndex.build(source.list(), encoder, revision, document, lexical_weight)
        index.save(path)
        return index, "built"
    if index.header.faq_revision == revision:
        return index, "loaded"
    changed = source.changed_since(index.header.faq_revision)
    current = [e for e in source.list() if e.faq_id in set(changed)]
    index.update(changed, current, encoder, revision)
    index.save(path)
    return index, "updated"
