"""Optimizer and learning-rate schedule (the optimization group of the config)."""

from __future__ import annotations

import re

import keras
from keras import ops

from zoo.config import OptimizationConfig

NO_DECAY = ["bias", "gamma", "beta", "position_embedding", "class_token"]


@keras.saving.register_keras_serializable("zoo")
class Linear(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from ``start`` x peak to the peak over ``warmup`` steps, then linear decay
    to 0 at ``total`` steps (airbench's triangle; Keras has no piecewise-linear schedule)."""

    def __init__(self, peak: float, total: int, warmup: int, start: float = 0.0):
        self.peak, self.total, self.warmup, self.start = (
            float(peak),
            int(total),
            int(warmup),
            float(start),
        )

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rise = self.start + (1.0 - self.start) * step / max(1, self.warmup)
        fall = (self.total - step) / max(1, self.total - self.warmup)
        factor = ops.where(step < self.warmup, rise, ops.maximum(fall, 0.0))
        return self.peak * factor

    def get_config(self):
        return {"peak": self.peak, "total": self.total, "warmup": self.warmup, "start": self.start}


def learning_rate(cfg: OptimizationConfig, steps_per_epoch: int):
    """A float, or a Keras schedule: linear warmup (from ``warmup_from`` x the peak) then
    cosine or linear decay to 0 (or flat for constant)."""
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    if cfg.schedule == "linear":
        return Linear(cfg.learning_rate, cfg.epochs * steps_per_epoch, warmup, cfg.warmup_from)
    if cfg.schedule == "constant" and not warmup:
        return cfg.learning_rate
    total = max(1, cfg.epochs * steps_per_epoch - warmup)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.learning_rate * cfg.warmup_from if warmup else cfg.learning_rate,
        decay_steps=total,
        alpha=1.0 if cfg.schedule == "constant" else 0.0,  # alpha=1 keeps the rate flat
        warmup_target=cfg.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


@keras.saving.register_keras_serializable("zoo")
class GroupSGD(keras.optimizers.SGD):
    """SGD with Nesterov momentum, L2 added to each gradient (so it runs through the momentum,
    as in torch.optim.SGD's ``weight_decay``; Keras's own is decoupled), and parameter groups:
    ``groups`` maps a regular expression over variable paths to (gradient multiplier, step from
    which the variable is frozen or None). A multiplier m with the L2 term left as is equals a
    torch param group of learning rate m x lr and weight decay wd / m (airbench's norm biases:
    m = 64). Keras optimizers have no param groups; scaling the gradient is the same update."""

    def __init__(self, learning_rate=0.01, momentum=0.9, l2=0.0, groups=None, **kwargs):
        kwargs.pop("nesterov", None)
        super().__init__(learning_rate, momentum=momentum, nesterov=True, **kwargs)
        self.l2 = float(l2)
        self.groups = {k: list(v) for k, v in (groups or {}).items()}

    def _group(self, variable) -> tuple[float, int | None]:
        for pattern, (multiplier, freeze) in self.groups.items():
            if re.search(pattern, variable.path):
                return float(multiplier), freeze
        return 1.0, None

    def apply(self, grads, trainable_variables=None):
        variables = (
            trainable_variables if trainable_variables is not None else self._trainable_variables
        )
        scaled = []
        for g, v in zip(grads, variables):
            if g is None:
                scaled.append(g)
                continue
            multiplier, freeze = self._group(v)
            g = g * ops.cast(multiplier, g.dtype) + ops.cast(self.l2, g.dtype) * ops.cast(
                v, g.dtype
            )
            if freeze is not None:  # a frozen variable gets no gradient from then on
                g = ops.where(self.iterations < freeze, g, ops.zeros_like(g))
            scaled.append(g)
        return super().apply(scaled, trainable_variables)

    def get_config(self):
        config = super().get_config()
        config.pop("nesterov", None)
        return {**config, "l2": self.l2, "groups": self.groups}


def make_optimizer(
    cfg: OptimizationConfig, steps_per_epoch: int, groups: dict | None = None
) -> keras.optimizers.Optimizer:
    """The config's optimizer; ``groups`` (sgd_l2 only): the model's parameter groups, see
    ``GroupSGD``."""
    lr = learning_rate(cfg, steps_per_epoch)
    wd = cfg.weight_decay or None
    if cfg.optimizer == "sgd_l2":
        return GroupSGD(lr, momentum=cfg.momentum, l2=cfg.weight_decay, groups=groups)
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
