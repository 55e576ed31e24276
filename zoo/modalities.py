"""Modalities: what the input pipeline of each kind of data needs besides the raw examples.

``adapter`` turns a dataset's facts into the pieces ``data.make_pipeline`` takes: for images the
uint8 -> float scaling that the export repeats in its serving graph; for text the tokenizer,
learned from the training split only (or reloaded for a resumed or fine-tuned run), which the
export tracks as well. Tasks ask for the adapter; the engine never sees a modality.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError


@dataclass(frozen=True)
class Adapter:
    info: Any  # the DatasetInfo, completed (e.g. the vocabulary size for text)
    encoder: Any = None  # saved in the run's preprocessor/ folder (text), else None
    pipeline: dict = field(default_factory=dict)  # keyword arguments of data.make_pipeline


def adapter(info, spec, texts, config, vocab_dir: Path | None, console) -> Adapter:
    """The modality's pipeline pieces. ``texts`` is a callable giving the training split's raw
    strings; it is only called when a vocabulary has to be learned."""
    if info.modality == "image":
        from zoo import preprocess

        return Adapter(info, None, {"preprocess": preprocess.prepare_images})
    encoder = text_encoder(config, spec, texts, vocab_dir, console)
    info = dataclasses.replace(info, vocab_size=int(encoder.vocabulary_size()))
    return Adapter(info, encoder, {"encode": encoder})


def text_encoder(config, spec, texts, vocab_dir: Path | None, console):
    """The saved vocabulary in ``vocab_dir`` (resume, fine-tune), else one learned from
    ``texts()`` (the training split only): WordPiece for BERT-style models, words otherwise."""
    from zoo import preprocess

    if vocab_dir is not None and preprocess.has_text_encoder(vocab_dir):
        encoder = preprocess.load_text_encoder(vocab_dir, config.sequence_length)
        if (spec.tokenizer == "wordpiece") != isinstance(encoder, preprocess.WordPiece):
            raise ZooError(
                f"{vocab_dir.parent} tokenizes text differently from {spec.name} (WordPiece vs "
                "words); initialise from a run of the same family"
            )
        return encoder
    console.print("learning the vocabulary from the training split...")
    if spec.tokenizer == "wordpiece":
        return preprocess.learn_wordpiece(
            texts(), config.max_tokens, config.sequence_length, config.standardize != "none"
        )
    return preprocess.fit_vectorizer(
        texts(), config.max_tokens, config.sequence_length, config.standardize
    )
