"""Tokenization and pooling of the ONNX encoder (no model needed)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bot.models.encoder import EncoderFileError, l2_normalize, load_tokenizer, pool, tokenize
from tests.bot.toy_bundle import write_tokenizer


@pytest.fixture()
def tokenizer_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokenizer.json"
    write_tokenizer(path)  # saved with padding to 128 and truncation at 512 built in
    return path


def test_padding_is_to_the_longest_text_not_the_saved_length(tokenizer_file: Path) -> None:
    batch = tokenize(load_tokenizer(tokenizer_file, 16, "[PAD]"), ["hello", "where is my order"])
    assert batch.input_ids.shape == (2, 6)  # [CLS] 4 words [SEP]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 0, 0, 0], [1] * 6]
    assert batch.input_ids.dtype == np.int64


def test_long_texts_are_truncated_to_max_length(tokenizer_file: Path) -> None:
    batch = tokenize(load_tokenizer(tokenizer_file, 16, "[PAD]"), ["refund " * 100])
    assert batch.input_ids.shape == (1, 16)
    assert batch.input_ids[0, -1] == 3  # [SEP] kept at the end


def test_unknown_padding_token_is_refused(tokenizer_file: Path) -> None:
    with pytest.raises(ValueError, match="padding token '<pad>' is not in the vocabulary"):
        load_tokenizer(tokenizer_file, 16, "<pad>")


def test_a_tokenizer_file_seen_before_is_not_parsed_again(tokenizer_file: Path, tmp_path: Path) -> None:
    # A bundle loaded beside the running one carries a copy of the same file: same object back.
    copy = tmp_path / "next-bundle" / "tokenizer.json"
    copy.parent.mkdir()
    copy.write_bytes(tokenizer_file.read_bytes())
    first = load_tokenizer(tokenizer_file, 16, "[PAD]")
    assert load_tokenizer(copy, 16, "[PAD]") is first
    # Other settings: a tokenizer of its own, and the first one keeps its truncation.
    longer = load_tokenizer(copy, 32, "[PAD]")
    assert longer is not first
    assert tokenize(longer, ["refund " * 100]).input_ids.shape == (1, 32)
    assert tokenize(first, ["refund " * 100]).input_ids.shape == (1, 16)


def test_a_changed_tokenizer_file_is_parsed_afresh(tokenizer_file: Path) -> None:
    before = load_tokenizer(tokenizer_file, 16, "[PAD]")
    saved = json.loads(tokenizer_file.read_text())
    vocab = saved["model"]["vocab"]
    vocab["zeppelin"] = max(vocab.values()) + 1  # a word the first file did not have
    tokenizer_file.write_text(json.dumps(saved))
    after = load_tokenizer(tokenizer_file, 16, "[PAD]")
    assert after is not before
    assert after.token_to_id("zeppelin") == vocab["zeppelin"] and before.token_to_id("zeppelin") is None


def test_a_broken_or_missing_tokenizer_file_is_refused_every_time(tmp_path: Path) -> None:
    broken = tmp_path / "tokenizer.json"
    broken.write_text("{not json")
    for _ in range(2):  # a failure is not remembered as a tokenizer
        with pytest.raises(EncoderFileError, match="not a tokenizer file"):
            load_tokenizer(broken, 16, "[PAD]")
    with pytest.raises(EncoderFileError, match="cannot be read"):
        load_tokenizer(tmp_path / "missing.json", 16, "[PAD]")


def test_mean_pooling_ignores_padding_and_cls_takes_the_first_token() -> None:
    hidden = np.arange(12, dtype=np.float32).reshape(1, 3, 4)  # [n, seq, hidden]
    mask = np.array([[1, 1, 0]])
    np.testing.assert_allclose(pool(hidden, mask, "mean"), [[2, 3, 4, 5]])
    np.testing.assert_allclose(pool(hidden, mask, "cls"), [[0, 1, 2, 3]])
    with pytest.raises(ValueError, match="unknown pooling"):
        pool(hidden, mask, "max")


def test_l2_normalize_keeps_zero_rows() -> None:
    out = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]], np.float32))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
