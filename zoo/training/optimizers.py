"""Optimizer and learning-rate schedule (the optimization group of the config)."""

from __future__ import annotations

import keras

from zoo.config import OptimizationConfig

NO_DECAY = ["bias", "gamma", "beta", "position_embedding", "class_token"]


def learning_rate(cfg: OptimizationConfig, steps_per_epoch: int):
    """A float, or a Keras schedule: linear warmup then cosine decay to 0 (or flat for constant)."""
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    if cfg.schedule == "constant" and not warmup:
        return cfg.learning_rate
    total = max(1, cfg.epochs * steps_per_epoch - warmup)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else cfg.learning_rate,
        decay_steps=total,
        alpha=1.0 if cfg.schedule == "constant" else 0.0,  # alpha=1 keeps the rate flat
        warmup_target=cfg.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def make_optimizer(cfg: OptimizationConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    lr = learning_rate(cfg, steps_per_epoch)
    wd = cfg.weight_decay or None
    if cfg.optimizer == "sgd":
        opt = keras.optimizers.SGD(
            lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0, weight_decay=wd
        )
    elif cfg.optimizer == "rmsprop":
        opt = keras.optimizers.RMSprop(lr, momentum=cfg.momentum, weight_decay=wd)
    elif cfg.optimizer == "adam":
        opt = keras.optimizers.Adam(lr, weight_decay=wd)
    else:
        opt = keras.optimizers.AdamW(lr, weight_decay=cfg.weight_decay)
    if cfg.weight_decay:
        opt.exclude_from_weight_decay(var_names=NO_DECAY)
    return opt
