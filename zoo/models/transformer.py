"""Transformer encoder pieces shared by the text Transformer, BERT-style encoders and ViT, and
the small Transformer text classifier.

``TransformerBlock`` is one encoder layer: multi-head self-attention and an MLP, each wrapped in
a residual connection with layer normalisation before (pre-norm, ViT) or after (post-norm, the
original Transformer and BERT) the sub-layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers, ops

from zoo.config import ranged
from zoo.models.layers import classifier_head
from zoo.models.registry import register_model


@keras.saving.register_keras_serializable(package="zoo")
class PositionEmbedding(layers.Layer):
    """Adds a learned embedding per position to a (batch, length, dim) sequence."""

    def __init__(self, max_length: int, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.position_embedding = self.add_weight(
            name="position_embedding",
            shape=(self.max_length, input_shape[-1]),
            initializer=self.initializer,
        )

    def call(self, x):
        length = ops.shape(x)[1]
        return x + ops.cast(self.position_embedding[None, :length, :], x.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "max_length": self.max_length,
            "initializer": keras.initializers.serialize(self.initializer),
        }


@keras.saving.register_keras_serializable(package="zoo")
class PaddingMask(layers.Layer):
    """True for real tokens (id != 0). The first position always counts, so an empty text still
    has one position to attend to and to pool (an all-false mask would give NaN)."""

    def call(self, tokens):
        first = ops.arange(ops.shape(tokens)[1]) == 0
        return ops.logical_or(ops.not_equal(tokens, 0), first[None, :])

    def compute_output_shape(self, input_shape):
        return input_shape


def pool_sequence(x, mask, pooling: str, first: str):
    """(batch, length, dim) -> (batch, dim): the first token's vector (``pooling == first``) or
    the mean over real tokens, padding masked out (``"mean"``)."""
    if pooling == first:
        return x[:, 0]
    if pooling == "mean":
        return layers.GlobalAveragePooling1D(name="pool")(x, mask=mask)
    from zoo.errors import ZooError

    raise ZooError(f"model.pooling must be {first} or mean, got {pooling!r}")


@keras.saving.register_keras_serializable(package="zoo")
def gelu_approximate(x):
    """GELU's tanh approximation, as BERT (and KerasHub's BERT) computes it."""
    return keras.activations.gelu(x, approximate=True)


def activation(name: str):
    """A Keras activation by name; ``gelu_approximate`` is the tanh form of GELU."""
    return gelu_approximate if name == "gelu_approximate" else name


@keras.saving.register_keras_serializable(package="zoo")
class TransformerBlock(layers.Layer):
    """One encoder layer: self-attention + MLP with residuals, pre- or post-norm."""

    def __init__(
        self,
        num_heads: int,
        mlp_dim: int,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        activation: str = "gelu",
        norm_first: bool = True,
        epsilon: float = 1e-6,
        drop_path: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads, self.mlp_dim = num_heads, mlp_dim
        self.dropout, self.attention_dropout = dropout, attention_dropout
        self.activation, self.norm_first, self.epsilon = activation, norm_first, epsilon
        self.drop_path = drop_path
        self.supports_masking = True

    def build(self, input_shape):
        dim = input_shape[-1]
        self.attention = layers.MultiHeadAttention(
            self.num_heads,
            dim // self.num_heads,
            dropout=self.attention_dropout,
            dtype=self.dtype_policy,
            name="attention",
        )
        self.attention.build(input_shape, input_shape)
        self.norm1 = layers.LayerNormalization(
            epsilon=self.epsilon, dtype=self.dtype_policy, name="norm1"
        )
        self.norm2 = layers.LayerNormalization(
            epsilon=self.epsilon, dtype=self.dtype_policy, name="norm2"
        )
        self.norm1.build(input_shape)
        self.norm2.build(input_shape)
        self.fc1 = layers.Dense(
            self.mlp_dim,
            activation=activation(self.activation),
            dtype=self.dtype_policy,
            name="mlp_in",
        )
        self.fc2 = layers.Dense(dim, dtype=self.dtype_policy, name="mlp_out")
        self.fc1.build(input_shape)
        self.fc2.build((*input_shape[:-1], self.mlp_dim))
        self.drop = layers.Dropout(self.dropout, dtype=self.dtype_policy)
        self.path_drop = layers.Dropout(
            self.drop_path, noise_shape=(None, 1, 1), dtype=self.dtype_policy
        )

    def _residual(self, x, fn, norm, training):
        if self.norm_first:
            return x + self.path_drop(self.drop(fn(norm(x)), training=training), training=training)
        return norm(x + self.path_drop(self.drop(fn(x), training=training), training=training))

    def call(self, x, mask=None, training=None):
        attention_mask = None
        if mask is not None:  # padding is masked as a key only (as KerasHub's encoders do)
            attention_mask = ops.broadcast_to(
                mask[:, None, :], (ops.shape(mask)[0], ops.shape(mask)[1], ops.shape(mask)[1])
            )
        # ops.copy: a tensor without the Keras mask the block's input carries, which the
        # attention would otherwise also apply to the queries (padded rows then attend
        # uniformly, where KerasHub's encoders let them attend to the real tokens).
        attend = lambda y: self.attention(
            ops.copy(y), ops.copy(y), attention_mask=attention_mask, training=training
        )
        x = self._residual(x, attend, self.norm1, training)
        return self._residual(x, lambda y: self.fc2(self.fc1(y)), self.norm2, training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "mlp_dim": self.mlp_dim,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "activation": self.activation,
            "norm_first": self.norm_first,
            "epsilon": self.epsilon,
            "drop_path": self.drop_path,
        }


def encoder(
    x,
    *,
    num_layers: int,
    num_heads: int,
    mlp_dim: int,
    dropout: float,
    attention_dropout: float = 0.0,
    activation: str = "gelu",
    norm_first: bool = True,
    epsilon: float = 1e-6,
    drop_path: float = 0.0,
    mask=None,
    prefix: str = "block",
):
    """A stack of ``TransformerBlock``s; drop_path grows linearly to its maximum (DeiT)."""
    from zoo.errors import ZooError

    width = x.shape[-1]
    if width % num_heads:
        raise ZooError(
            f"the model width {width} (embedding_dim / hidden_size) must be a multiple of "
            f"num_heads {num_heads}"
        )
    for i in range(num_layers):
        rate = drop_path * i / max(1, num_layers - 1)
        x = TransformerBlock(
            num_heads,
            mlp_dim,
            dropout,
            attention_dropout,
            activation,
            norm_first,
            epsilon,
            rate,
            name=f"{prefix}_{i}",
        )(x, mask=mask)
    return x


@dataclass(frozen=True)
class TransformerConfig:
    embedding_dim: int = ranged(64, 1, 1 << 14)  # model width
    num_layers: int = ranged(2, 1, 256)
    num_heads: int = ranged(4, 1, 256)
    mlp_dim: int = ranged(128, 1, 1 << 16)
    dropout: float = ranged(0.1, 0.0, 1.0, high_in=False)
    pooling: str = "mean"  # mean over real tokens (padding masked out) | first


def build_transformer(info, config: TransformerConfig) -> keras.Model:
    tokens = keras.Input(info.input_shape, dtype="int32", name="tokens")
    mask = PaddingMask(name="padding_mask")(tokens)
    x = layers.Embedding(info.vocab_size, config.embedding_dim, name="token_embedding")(tokens)
    x = PositionEmbedding(info.input_shape[0], name="position_embedding")(x)
    x = layers.Dropout(config.dropout, name="embedding_dropout")(x)
    x = encoder(
        x,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        mlp_dim=config.mlp_dim,
        dropout=config.dropout,
        mask=mask,
    )
    x = layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = pool_sequence(x, mask, config.pooling, first="first")
    logits = classifier_head(x, info.num_classes, config.dropout)
    return keras.Model(tokens, logits, name="transformer")


RECIPE = dict(
    optimizer="adamw",
    learning_rate=1e-3,
    weight_decay=0.01,
    schedule="cosine",
    warmup_epochs=0.2,
    batch_size=64,
    max_tokens=20000,
    sequence_length=256,
    epochs=3,
)

# `zoo tune`'s default space (AdamW), around the recipe above.
SPACE = {
    "learning_rate": "log:1e-4..3e-3",
    "weight_decay": "0.0..0.1",
    "model.dropout": "0.0..0.3",
    "warmup_epochs": "0.0..0.5",
}


# IMDB (seed 0, test accuracy, 3 epochs): 256 tokens 85.98%, 512 tokens (most reviews whole)
# 87.23%. results/results.csv has the 3 seeds.
DATASET_RECIPES = {"imdb_reviews": {"sequence_length": 512}}


@register_model(
    family="transformer",
    modality="text",
    builder=build_transformer,
    recipe=RECIPE,
    space=SPACE,
    default=True,
    dataset_recipes=DATASET_RECIPES,
)
def transformer() -> TransformerConfig:
    """Token + position embeddings -> 2 pre-norm Transformer encoder blocks -> mean pool -> Dense."""
    return TransformerConfig()
