"""A tiny BERT built in the test session: a few layers, a small vocabulary, Chinese included.

It has the layout of a Hugging Face model directory (config, weights, tokenizer files), so
every code path that takes ``--base-model PATH`` can be exercised in seconds without the
real MiniLM. Build it once per session and copy the directory for tests that change it.

A Chinese one gets a vocabulary learnt from Chinese text with ``tokenizers``' WordPiece
trainer (``train_wordpiece_vocab``), as a team would build one for its own language offline.

Example::

    path = build_tiny_bert(tmp_path / "tiny")
    AutoModel.from_pretrained(path)
    chinese = build_tiny_bert(tmp_path / "zh", vocab=train_wordpiece_vocab(["花呗怎么还款", ...]))
"""
from __future__ import annotations

import string
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# Words that the toy data sets in the tests use, so they tokenize to whole words.
BASE_WORDS = ["hello", "hi", "hey", "good", "morning", "evening", "bye", "goodbye", "see", "you", "later", "thanks", "thank", "cheers", "great", "where", "is", "my", "order", "parcel", "package", "delivery", "shipping", "ship", "track", "tracking", "status", "late", "refund", "return", "money", "back", "card", "payment", "pay", "paypal", "declined", "charged", "twice", "invoice", "password", "reset", "account", "email", "login", "delete", "change", "address", "cancel", "help", "human", "agent", "person", "how", "do", "i", "can", "what", "when", "why", "the", "a", "an", "to", "of", "for", "on", "in", "it", "me", "please", "weather", "joke", "football"]

# Common CJK characters; BERT's basic tokenizer splits Chinese text into single characters.
CHINESE_CHARS = list("你好谢谢再见订单在哪里退款密码重置帐户快递物流支付卡取消人工客服天气笑话我的请问怎么")


def tiny_vocab(extra_words: Iterable[str] = ()) -> list[str]:
    """Return the vocabulary: special tokens, letters and digits (with ## pieces), words, CJK."""
    pieces = list(string.ascii_lowercase + string.digits + string.punctuation)
    subwords = [f"##{c}" for c in string.ascii_lowercase + string.digits]
    words = sorted(set(BASE_WORDS) | {w.lower() for w in extra_words})
    seen: dict[str, None] = {}
    for token in [*SPECIAL_TOKENS, *pieces, *subwords, *words, *CHINESE_CHARS]:
        seen.setdefault(token, None)
    return list(seen)


def train_wordpiece_vocab(corpus: Iterable[str], size: int = 1000) -> list[str]:
    """A WordPiece vocabulary learnt from ``corpus`` by ``tokenizers`` (no download): BERT's
    normaliser and pre-tokenizer, so Chinese characters are tokens of their own; ids in order."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(handle_chinese_chars=True, lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=size, min_frequency=1, special_tokens=SPECIAL_TOKENS,
                                        show_progress=False)
    tokenizer.train_from_iterator(corpus, trainer)
    return [token for token, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]


def build_tiny_bert(
    out_dir: Path,
    extra_words: Iterable[str] = (),
    hidden_size: int = 32,
    num_layers: int = 2,
    seed: int = 0,
    vocab: list[str] | None = None,
) -> Path:
    """Write a randomly initialised tiny ``BertModel`` with its tokenizer to ``out_dir``
    (``vocab``: its vocabulary, special tokens first; default ``tiny_vocab(extra_words)``)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_file = out_dir / "vocab.txt"
    vocab_file.write_text("\n".join(vocab or tiny_vocab(extra_words)) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True, model_max_length=128)
    tokenizer.save_pretrained(out_dir)

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=2,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(out_dir)
    return out_dir
