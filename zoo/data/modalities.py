"""Modalities: what the input pipeline of each kind of data needs besides the raw examples.

``complete`` fills in what only the data can say (audio: the clip length, the front end's
settings); ``adapter`` turns a dataset's facts into the pieces ``pipelines.make_pipeline`` takes:
for
images the uint8 -> float scaling that the export repeats in its serving graph; for audio the
int16 -> float scaling (the log-mel front end is part of the model); for text the tokenizer,
learned from the training split only (or reloaded for a resumed or fine-tuned run), which the
export tracks as well; ``augmenter`` the training-time augmentation. Tasks ask for these; the
engine never sees a modality.
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
    pipeline: dict = field(default_factory=dict)  # keyword arguments of pipelines.make_pipeline


AUGMENTS = {
    "image": ("none", "flip", "crop", "flip_crop", "altflip_translate"),
    "audio": ("none", "shift"),
}
CLIP_PERCENTILE = 95  # audio clips are cut or padded to this percentile of training lengths
CLIP_PROBE = 5000  # training clips measured for it


def complete(info, builder, config, spec, console):
    """The dataset's facts completed from its prepared data and the config: for audio the clip
    length (``--clip-seconds``, else the 95th percentile of the training clips' lengths) and
    the front end's settings (``--set frontend.KEY=VALUE``, checked now)."""
    allowed = AUGMENTS.get(info.modality, ("none",))
    if config.augment not in allowed and config.augment == spec.recipe.get("augment"):
        console.print(
            f"note: the recipe's --augment {config.augment} does not apply to {info.modality} data"
        )
    elif config.augment not in allowed:
        raise ZooError(
            f"--augment {config.augment} does not apply to {info.modality} data; choose one of "
            f"{', '.join(allowed)}"
        )
    if info.modality != "audio":
        if config.frontend:
            raise ZooError(f"frontend settings apply to audio data, not {info.modality}")
        return info
    from zoo.models.audio import frontend_config, min_clip_samples

    frontend = dataclasses.asdict(frontend_config(config.frontend))
    clip, rate = info.input_shape[0], info.sample_rate
    need = min_clip_samples(rate, frontend)
    if clip is not None and clip < need:
        raise ZooError(
            f"--clip-seconds {config.clip_seconds} is {clip} samples, shorter than the front "
            f"end's window needs ({need} samples); pass --clip-seconds {need / rate:.3f} or more"
        )
    if clip is None:
        clip = _clip_samples(builder, info)
        why = f"the {CLIP_PERCENTILE}th percentile of training clip lengths"
        if clip < need:
            why = f"{why} is {clip}, below the {need} the front end's window needs"
            clip = need
        console.print(
            f"note: clips cut or padded to {clip} samples ({clip / rate:.2f} s, {why}; set "
            "--clip-seconds to change)"
        )
    return dataclasses.replace(info, input_shape=(int(clip),), frontend=frontend)


def _clip_samples(builder, info) -> int:
    import numpy as np
    import tensorflow as tf

    ds = builder.as_dataset(split=info.train_split).take(CLIP_PROBE)
    lengths = [
        int(n) for n in ds.map(lambda ex: tf.shape(ex[info.input_key])[0]).as_numpy_iterator()
    ]
    if not lengths:
        raise ZooError(f"the training split {info.train_split} of {info.name} is empty")
    return max(1, int(np.percentile(lengths, CLIP_PERCENTILE)))


def augmenter(info, mode: str):
    """-> fn(batch, stateless seed) -> augmented batch, or None for no augmentation."""
    from zoo.data import preprocess

    if mode not in AUGMENTS.get(info.modality, ()) or mode == "none":
        return None
    if info.modality == "audio":
        return preprocess.shift_audio
    return lambda x, seed: preprocess.augment_images(x, seed, mode)


def adapter(info, spec, texts, config, vocab_dir: Path | None, console) -> Adapter:
    """The modality's pipeline pieces. ``texts`` is a callable giving the training split's raw
    strings; it is only called when a vocabulary has to be learned."""
    if info.modality in ("image", "audio"):
        from zoo.data import preprocess

        scale = preprocess.prepare_images if info.modality == "image" else preprocess.prepare_audio
        return Adapter(info, None, {"preprocess": scale})
    encoder = text_encoder(config, spec, texts, vocab_dir, console)
    info = dataclasses.replace(info, vocab_size=int(encoder.vocabulary_size()))
    return Adapter(info, encoder, {"encode": encoder})


def text_encoder(config, spec, texts, vocab_dir: Path | None, console):
    """The saved vocabulary in ``vocab_dir`` (resume, fine-tune), else one learned from
    ``texts()`` (the training split only): WordPiece for BERT-style models, words otherwise."""
    from zoo.data import preprocess

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
