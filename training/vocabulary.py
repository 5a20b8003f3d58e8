"""Characters the base model's tokenizer cannot read, added to its vocabulary before fine-tuning.

The bundled all-MiniLM-L6-v2 has an English WordPiece vocabulary: it holds 244 Chinese
characters, so "为什么我的花呗没有额度" reaches the model as mostly ``[UNK]`` and no amount of
fine-tuning can tell two Chinese questions apart. When the unknown characters are a real share of
the training text (``UNKNOWN_SHARE``: a few stray emoji in English data are not), each of them
becomes a token of its own with a fresh embedding, which fine-tuning then learns from the FAQ
and its labelled queries. The tokenizer saved with the checkpoint (and shipped in the bundle's
``tokenizer.json``) has them, so the runtime reads the same tokens.

A model whose vocabulary already covers the text (a Chinese or multilingual ``--base-model``)
is left as it is.

Example::

    added = extend_vocabulary(tokenizer, encoder, texts)     # ["为", "么", ...] or []
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

UNKNOWN_SHARE = 0.01  # extend when at least this share of the training text's characters is unknown
NEW_EMBEDDING_SEED = 0


def unknown_characters(tokenizer, texts: Sequence[str]) -> tuple[list[str], float]:  # type: ignore[no-untyped-def]  # a transformers tokenizer: imported lazily
    """The characters of ``texts`` that ``tokenizer`` reads as its unknown token, most frequent
    first, and the share of all non-space characters they make up."""
    counts = Counter(ch for text in texts for ch in text if not ch.isspace())
    unknown_id = tokenizer.unk_token_id
    unknown = [ch for ch in counts if tokenizer(ch, add_special_tokens=False)["input_ids"] == [unknown_id]]
    total = sum(counts.values())
    share = sum(counts[ch] for ch in unknown) / total if total else 0.0
    return sorted(unknown, key=lambda ch: (-counts[ch], ch)), share


def extend_vocabulary(tokenizer, encoder, texts: Sequence[str]) -> list[str]:  # type: ignore[no-untyped-def]  # transformers objects: imported lazily
    """Add the unknown characters of ``texts`` to ``tokenizer`` and rows for them to ``encoder``'s
    input embeddings, when they are at least ``UNKNOWN_SHARE`` of the text; return what was added.

    New rows are drawn around the existing embeddings (their mean, plus noise of their per-dimension
    spread, seeded), so a new character starts as an ordinary, distinct token.
    """
    import torch

    unknown, share = unknown_characters(tokenizer, texts)
    if share < UNKNOWN_SHARE or not unknown or tokenizer.unk_token_id is None:
        return []
    old = encoder.get_input_embeddings().weight.detach().clone()  # [rows, hidden]
    tokenizer.add_tokens(unknown)
    # A model may have more embedding rows than tokens: never shrink, and set exactly the new ids' rows.
    encoder.resize_token_embeddings(max(len(tokenizer), old.shape[0]), mean_resizing=False)
    ids = torch.tensor(tokenizer.convert_tokens_to_ids(unknown), device=old.device)  # [added]
    generator = torch.Generator().manual_seed(NEW_EMBEDDING_SEED)
    noise = torch.randn(len(unknown), old.shape[1], generator=generator).to(old.device, old.dtype)  # [added, hidden]
    with torch.no_grad():
        encoder.get_input_embeddings().weight[ids] = old.mean(dim=0) + noise * old.std(dim=0)
    return unknown
