"""Characters the base tokenizer reads as [UNK] become tokens of their own before fine-tuning."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers")

CHINESE = ["为什么我的花呗没有额度", "借呗怎么开通", "花呗逾期会怎么样"]


def _load(path: Path):  # type: ignore[no-untyped-def]  # transformers objects
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)


def test_unknown_characters_are_added_with_fresh_embeddings(tiny_bert: Path) -> None:
    import torch

    from training.vocabulary import extend_vocabulary, unknown_characters

    tokenizer, encoder = _load(tiny_bert)
    before = encoder.get_input_embeddings().weight.detach().clone()
    unknown, share = unknown_characters(tokenizer, CHINESE)
    assert "花" in unknown and "我" not in unknown and share > 0.5  # the tiny vocabulary has 我 but not 花
    added = extend_vocabulary(tokenizer, encoder, CHINESE)
    assert added == unknown and len(tokenizer) == before.shape[0] + len(added)
    weights = encoder.get_input_embeddings().weight
    assert weights.shape[0] == len(tokenizer) and torch.equal(weights[: before.shape[0]], before)
    new = weights[before.shape[0]:]
    assert not torch.isnan(new).any() and torch.unique(new, dim=0).shape[0] == len(added)  # distinct rows
    ids = tokenizer("花呗怎么开通", add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids and len(ids) == 6


def test_covered_or_nearly_covered_text_changes_nothing(tiny_bert: Path) -> None:
    from training.vocabulary import extend_vocabulary

    tokenizer, encoder = _load(tiny_bert)
    rows = encoder.get_input_embeddings().weight.shape[0]
    assert extend_vocabulary(tokenizer, encoder, ["where is my order", "refund please"]) == []
    assert extend_vocabulary(tokenizer, encoder, ["where is my order " * 30 + "🙂"]) == []  # under 1 % unknown
    assert len(tokenizer) == rows == encoder.get_input_embeddings().weight.shape[0]


def test_the_added_tokens_are_saved_and_read_by_the_runtime_tokenizer(tiny_bert: Path, tmp_path: Path) -> None:
    from bot.models.encoder import load_tokenizer
    from training.vocabulary import extend_vocabulary

    tokenizer, encoder = _load(tiny_bert)
    extend_vocabulary(tokenizer, encoder, CHINESE)
    tokenizer.save_pretrained(tmp_path)
    runtime = load_tokenizer(tmp_path / "tokenizer.json", max_length=32, pad_token="[PAD]")
    assert "[UNK]" not in runtime.encode("为什么借呗没有额度").tokens
