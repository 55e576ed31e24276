"""BERT-style encoders (Devlin et al. 2018): token + position + segment embeddings, post-norm
Transformer blocks with GELU, ``[CLS]`` pooling; a classifier for fine-tuning and a masked-LM
model for pretraining (``zoo pretrain``), which share every encoder layer by name.

The input is one int tensor of WordPiece ids, ``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]``
(see ``zoo.data.preprocess.WordPiece``). Segment ids are derived from it inside the model (0 up to
and including the first ``[SEP]``, 1 after), so every path that feeds a text model one tensor
(training, eval, export, TFLite) feeds BERT too.

Next-sentence prediction is left out of pretraining: RoBERTa (Liu et al. 2019) found it does not
help, and it would need sentence pairs that most classification corpora lack.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers, ops

from zoo.config import ranged
from zoo.models.layers import classifier_head
from zoo.models.registry import register_model
from zoo.models.tokens import SEP_ID
from zoo.models.transformer import PaddingMask, PositionEmbedding, encoder, pool_sequence


@keras.saving.register_keras_serializable(package="zoo")
class SegmentIds(layers.Layer):
    """Token ids -> segment ids: 0 through the first [SEP], 1 after it, 0 for padding (id 0),
    as KerasHub's BERT preprocessing gives them."""

    def __init__(self, sep_id: int = SEP_ID, **kwargs):
        super().__init__(**kwargs)
        self.sep_id = sep_id

    def call(self, tokens):
        sep = ops.cast(ops.equal(tokens, self.sep_id), "int32")
        before = ops.cumsum(sep, axis=1) - sep  # [SEP]s strictly before each position
        return ops.minimum(before, 1) * ops.cast(ops.not_equal(tokens, 0), "int32")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "sep_id": self.sep_id}


@keras.saving.register_keras_serializable(package="zoo")
class TiedEmbedding(layers.Embedding):
    """An embedding that also maps hidden states back to vocabulary logits with its own matrix
    (``reverse=True``), as BERT's masked-LM output layer does."""

    def call(self, inputs, reverse: bool = False):
        if reverse:
            return ops.matmul(inputs, ops.transpose(ops.cast(self.embeddings, inputs.dtype)))
        return super().call(inputs)

    def compute_output_spec(self, inputs, reverse: bool = False):
        if reverse:
            shape = (*inputs.shape[:-1], self.input_dim)
            return keras.KerasTensor(shape, dtype=self.compute_dtype)
        return super().compute_output_spec(inputs)


@keras.saving.register_keras_serializable(package="zoo")
class GatherPositions(layers.Layer):
    """(batch, length, dim) hidden states, (batch, k) positions -> (batch, k, dim)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # takes the padding mask and ends it

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, x, positions):
        return ops.take_along_axis(x, ops.cast(positions, "int32")[:, :, None], axis=1)

    def compute_output_shape(self, x_shape, positions_shape):
        return (x_shape[0], positions_shape[1], x_shape[2])


@keras.saving.register_keras_serializable(package="zoo")
class Bias(layers.Layer):
    """A learned bias over the last axis (the masked-LM output bias)."""

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(input_shape[-1],), initializer="zeros")

    def call(self, x):
        return x + ops.cast(self.bias, x.dtype)


@dataclass(frozen=True)
class BertConfig:
    hidden_size: int = ranged(128, 1, 1 << 14)  # H
    num_layers: int = ranged(2, 1, 256)  # L
    num_heads: int = ranged(2, 1, 256)  # A
    mlp_dim: int = ranged(512, 1, 1 << 16)  # 4H
    max_positions: int = ranged(512, 1, 1 << 16)  # position embeddings; may exceed the text
    dropout: float = ranged(0.1, 0.0, 1.0, high_in=False)
    attention_dropout: float = ranged(0.1, 0.0, 1.0, high_in=False)
    initializer_range: float = ranged(0.02, 0.0, 1.0, low_in=False)  # truncated normal std
    # BERT's (and KerasHub's) tanh approximation of GELU; "gelu" is the exact form.
    activation: str = "gelu_approximate"
    sep_id: int = ranged(SEP_ID, 0, 1 << 24)  # the vocabulary's [SEP]: segment ids follow it
    # The classifier's input: the [CLS] vector, as in BERT, or the mean over real tokens. The
    # masked-LM loss never reads the [CLS] output, so after MLM-only pretraining (no next-sentence
    # task) mean pooling starts fine-tuning from vectors the pretraining did train; on IMDB it
    # gave no reliable gain over [CLS] at this pretraining budget (docs/results-history.md).
    pooling: str = "cls"


def _encode(tokens, vocab_size: int, config: BertConfig):
    """Shared encoder layers: tokens -> (sequence output, padding mask, token embedding layer)."""
    from zoo.errors import ZooError

    if config.activation not in ("gelu", "gelu_approximate"):
        raise ZooError(
            f"model.activation must be gelu or gelu_approximate, got {config.activation!r}"
        )
    length = tokens.shape[1]
    if length is not None and length > config.max_positions:
        raise ZooError(
            f"sequence_length {length} exceeds the model's max_positions {config.max_positions}; "
            "use --sequence-length at most that"
        )
    init = keras.initializers.TruncatedNormal(stddev=config.initializer_range)
    mask = PaddingMask(name="padding_mask")(tokens)
    embed = TiedEmbedding(
        vocab_size, config.hidden_size, embeddings_initializer=init, name="token_embedding"
    )
    x = embed(tokens)
    x = PositionEmbedding(config.max_positions, init, name="position_embedding")(x)
    segments = SegmentIds(config.sep_id, name="segment_ids")(tokens)
    x = x + layers.Embedding(
        2, config.hidden_size, embeddings_initializer=init, name="segment_embedding"
    )(segments)
    x = layers.LayerNormalization(epsilon=1e-12, name="embedding_norm")(x)
    x = layers.Dropout(config.dropout, name="embedding_dropout")(x)
    x = encoder(
        x,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        mlp_dim=config.mlp_dim,
        dropout=config.dropout,
        attention_dropout=config.attention_dropout,
        activation=config.activation,
        norm_first=False,  # post-norm, as in BERT
        epsilon=1e-12,
        mask=mask,
    )
    return x, mask, embed


def build_bert(info, config: BertConfig) -> keras.Model:
    """Classifier: encoder -> [CLS] (or mean) -> tanh pooler -> dropout -> logits."""
    tokens = keras.Input(info.input_shape, dtype="int32", name="tokens")
    x, mask, _ = _encode(tokens, info.vocab_size, config)
    init = keras.initializers.TruncatedNormal(stddev=config.initializer_range)
    pooled = layers.Dense(config.hidden_size, "tanh", kernel_initializer=init, name="pooler")(
        pool_sequence(x, mask, config.pooling, first="cls")
    )
    logits = classifier_head(pooled, info.num_classes, config.dropout)
    return keras.Model(tokens, logits, name="bert")


def build_bert_pretrainer(info, config: BertConfig, max_predictions: int) -> keras.Model:
    """Masked-LM model: {tokens, positions} -> vocabulary logits at the masked positions
    (computed only there, so the vocabulary-sized output costs max_predictions per example)."""
    tokens = keras.Input(info.input_shape, dtype="int32", name="tokens")
    positions = keras.Input((max_predictions,), dtype="int32", name="positions")
    x, _, embed = _encode(tokens, info.vocab_size, config)
    init = keras.initializers.TruncatedNormal(stddev=config.initializer_range)
    h = GatherPositions(name="gather_masked")(x, positions)
    h = layers.Dense(config.hidden_size, "gelu", kernel_initializer=init, name="mlm_transform")(h)
    h = layers.LayerNormalization(epsilon=1e-12, name="mlm_norm")(h)
    logits = Bias(name="mlm_bias", dtype="float32")(
        layers.Activation("linear", dtype="float32", name="mlm_float32")(embed(h, reverse=True))
    )
    return keras.Model({"tokens": tokens, "positions": positions}, logits, name="bert_mlm")


RECIPE = dict(
    optimizer="adamw",
    learning_rate=5e-4,
    weight_decay=0.01,
    schedule="cosine",
    warmup_epochs=0.1,
    batch_size=32,
    max_tokens=30522,  # WordPiece vocabulary size (BERT's own vocabulary has 30,522 entries)
    sequence_length=320,  # about 256 words: most IMDB reviews whole
    standardize="lower",  # WordPiece lower-cases and strips accents; punctuation is kept
    epochs=2,
)

# `zoo tune`'s default space for fine-tuning (AdamW), around the recipe above.
SPACE = {
    "learning_rate": "log:1e-5..1e-3",
    "weight_decay": "0.0..0.1",
    "model.dropout": "0.0..0.3",
    "batch_size": "16,32,64",
}


# Masked-LM pretraining (``zoo pretrain``): BERT's 128-token phase, a larger learning rate.
PRETRAIN_RECIPE = dict(
    RECIPE,
    learning_rate=5e-4,
    warmup_epochs=0.2,
    batch_size=64,
    sequence_length=128,
    epochs=4,
)


def _variant(fn):
    return register_model(
        family="bert",
        modality="text",
        builder=build_bert,
        recipe=RECIPE,
        space=SPACE,
        default=fn.__name__ == "bert_tiny",
        pretrain="mlm",
        tokenizer="wordpiece",
        pretrain_recipe=PRETRAIN_RECIPE,
    )(fn)


@_variant
def bert_tiny() -> BertConfig:
    """BERT-Tiny: L=2, H=128, A=2 (Turc et al. 2019)."""
    return BertConfig(hidden_size=128, num_layers=2, num_heads=2, mlp_dim=512)


@_variant
def bert_mini() -> BertConfig:
    """BERT-Mini: L=4, H=256, A=4 (Turc et al. 2019)."""
    return BertConfig(hidden_size=256, num_layers=4, num_heads=4, mlp_dim=1024)


@_variant
def bert_small() -> BertConfig:
    """BERT-Small: L=4, H=512, A=8 (Turc et al. 2019)."""
    return BertConfig(hidden_size=512, num_layers=4, num_heads=8, mlp_dim=2048)


@_variant
def bert_base() -> BertConfig:
    """BERT-Base: L=12, H=768, A=12, about 110M parameters with a 30k vocabulary."""
    return BertConfig(hidden_size=768, num_layers=12, num_heads=12, mlp_dim=3072)
