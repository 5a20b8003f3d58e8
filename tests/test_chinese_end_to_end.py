"""Chinese end to end, offline: a tiny BERT whose WordPiece vocabulary is learnt from Chinese text,
trained on the Chinese demo (``supportbot train joint``, ``tests/chinese.py``), exported to int8 ONNX, and served.

The tiny model knows next to nothing, so most of the finding is the lexical half of hybrid
search; what this pins is that every step takes Chinese text: the tokenizer has its characters,
training chooses and records a lexical weight, the export gates and quantizes, the runtime
loads the bundle, indexes the FAQ with both halves and answers Chinese messages.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.core.brain import BrainKeeper, BundleModel
from bot.models.bundle import load_bundle
from bot.settings import Settings
from knowledge.database import Database
from knowledge.faq.formats import read_faq_file
from knowledge.faq.store import FaqStore
from tests.chinese import DEMO, unseen_queries

pytest.importorskip("transformers")


@pytest.fixture()
def bundles(chinese_bundles: Path) -> Path:
    """The session's Chinese bundles (``tests/chinese.py``): ``v1``, int8, read-only."""
    return chinese_bundles


def _settings(tmp_path: Path, bundles: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "data", admin_token="t" * 32, max_wait_ms=1.0, bundle=bundles / "v1")
    store = FaqStore(Database.open(settings.database_url))
    store.import_entries(read_faq_file(DEMO / "faq.yaml").entries, "test")
    store.database.close()
    return settings


def test_the_bundle_is_int8_reads_chinese_and_records_a_lexical_weight(bundles: Path) -> None:
    bundle = load_bundle(bundles / "v1")
    manifest = bundle.manifest
    assert manifest.quantization == "per-channel" and bundle.shared
    assert 0 < manifest.retriever.lexical_weight <= 1
    faq = [text for entry in read_faq_file(DEMO / "faq.yaml").entries for text in entry.phrasings()]
    tokens = bundle.encoder.tokenizer.encode_batch(faq)
    assert not any("[UNK]" in encoding.tokens for encoding in tokens)  # the learnt vocabulary has every character
    vectors = bundle.encode(["花呗怎么还款", "退款多久到账", ""])
    assert vectors.shape[0] == 3 and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


async def test_the_runtime_indexes_both_halves_and_finds_the_chinese_answers(bundles: Path, tmp_path: Path) -> None:
    settings = _settings(tmp_path, bundles)
    store = FaqStore(Database.open(settings.database_url))
    model = BundleModel(load_bundle(bundles / "v1"))
    keeper = await BrainKeeper.open(settings, store, model)
    try:
        index = keeper.current.index
        assert index.lexical_weight == model.lexical_weight > 0 and len(index) == 22
        queries = unseen_queries()
        vectors = model.encode([text for text, _ in queries])
        hits = [index.search(vector, k=3, text=text) for vector, (text, _) in zip(vectors, queries)]
        top1 = np.mean([found[0].faq_id == faq_id for found, (_, faq_id) in zip(hits, queries)])
        top3 = np.mean([faq_id in {h.faq_id for h in found} for found, (_, faq_id) in zip(hits, queries)])
        assert top1 >= 0.75 and top3 >= 0.9
    finally:
        keeper.close()
        store.database.close()


async def test_chinese_messages_get_replies_over_http(bundles: Path, tmp_path: Path, aiohttp_client) -> None:
    client: TestClient = await aiohttp_client(create_app(_settings(tmp_path, bundles)))
    for text in ("你好", "退款多久能到账？", "ＡＴＭ能付款吗？", "？？？"):
        response = await client.post("/api/chat", json={"session_id": "zh-session-1", "text": text})
        assert response.status == 200, await response.text()
        reply = await response.json()
        assert reply["reply"] and reply["action"] in ("answer", "clarify", "fallback", "handler", "handoff")

