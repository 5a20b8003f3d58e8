"""Chinese end to end, offline: a tiny BERT whose WordPiece vocabulary is learnt from Chinese text,
trained on the Chinese demo (``supportbot train joint``), exported to int8 ONNX, and served.

The tiny model knows next to nothing, so most of the finding is the lexical half of hybrid
search; what this pins is that every step takes Chinese text: the tokenizer has its characters,
training chooses and records a lexical weight, the export gates and quantizes, the runtime
loads the bundle, indexes the FAQ with both halves and answers Chinese messages.
"""
from __future__ import annotations

import csv
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

pytest.importorskip("transformers")

DEMO = Path(__file__).resolve().parents[1] / "knowledge" / "demo" / "zh"
INTENTS = {
    "greeting": ["你好", "您好", "在吗", "哈喽", "早上好", "晚上好", "嗨，你好", "你好呀", "有人在吗", "下午好"],
    "goodbye": ["再见", "拜拜", "下次见", "先这样，再见", "好的，拜拜", "回头见", "我走了", "不聊了，再见", "晚安", "明天见"],
    "thanks": ["谢谢", "多谢", "谢谢你", "非常感谢", "感谢帮忙", "太感谢了", "好的，谢谢", "谢啦", "辛苦了，谢谢", "万分感谢"],
    "human_handoff": ["转人工", "我要人工客服", "找真人", "人工服务", "帮我转人工", "我想和客服说话", "接人工",
                      "叫个真人来", "不要机器人", "人工客服在哪"],
}  # fmt: skip


def _queries() -> list[tuple[str, str]]:
    with (DEMO / "queries.csv").open(encoding="utf-8", newline="") as handle:
        return [(row["query"], row["faq_id"]) for row in csv.DictReader(handle)]


def _unseen() -> list[tuple[str, str]]:
    """The demo messages training never saw (it trains on the others): one per FAQ entry."""
    return _queries()[1::2]


def _write(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train and export once: ``bundles/v1`` (int8), read-only for the tests below."""
    from bot.cli import main
    from tests.tiny import build_tiny_bert, train_wordpiece_vocab
    from training.args import IntentTrainingArgs, RetrieverTrainingArgs
    from training.data import write_faq
    from training.joint import JointInputs, train_joint

    root = tmp_path_factory.mktemp("chinese")
    entries = read_faq_file(DEMO / "faq.yaml").entries
    queries = _queries()[::2]
    intents = [(text, label) for label, texts in INTENTS.items() for text in texts]
    intents += [(text, "faq") for text, _ in queries]
    corpus = [text for e in entries for text in (*e.phrasings(), e.answer)] + [t for t, _ in intents + queries]
    base = build_tiny_bert(root / "base", vocab=train_wordpiece_vocab(corpus, 1200), hidden_size=48)
    write_faq(root / "faq.csv", entries)
    inputs = JointInputs(_write(root / "intents.csv", ["text", "label"], intents), None, root / "faq.csv",
                         _write(root / "queries.csv", ["query", "faq_id"], queries))
    train_joint(inputs, root / "ckpt",
                IntentTrainingArgs(base_model=str(base), learning_rate=3e-3, head_learning_rate=1e-2, layer_decay=1.0,
                                   epochs=1, min_train_steps=60, batch_size=8, precision="fp32"),
                RetrieverTrainingArgs(epochs=2, batch_size=8, learning_rate=1e-3, max_length=64, precision="fp32",
                                      valid_fraction=0.3, document="question"))  # fmt: skip
    status = main(["export", "--intents", str(root / "ckpt" / "intents"), "--retriever", str(root / "ckpt" / "retriever"),
                   "--out", str(root / "bundles"), "--version", "v1"])  # fmt: skip
    assert status == 0
    return root / "bundles"


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
        queries = _unseen()
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

