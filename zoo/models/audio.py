"""The audio front end every audio model starts with, so exports take raw waveforms: Keras's
own ``MelSpectrogram`` (log-mel in dB, floored at -40 dB element by element rather than at 80 dB
below the batch's loudest value, so a clip's features never depend on its batch),
normalised per mel bin, with SpecAugment-style time and
frequency masking while training (Park et al. 2019). Image families read the result as a
one-channel image (frames x mel bins), recurrent ones as a sequence of frames."""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import layers, ops

from zoo import config as cfg
from zoo.config import ranged


@dataclass(frozen=True)
class FrontendConfig:
    """``--set frontend.KEY=VALUE``."""

    num_mel_bins: int = ranged(40, 4, 512)
    frame_ms: float = ranged(25.0, 1.0, 1000.0)  # analysis window
    hop_ms: float = ranged(10.0, 1.0, 1000.0)  # one frame every hop
    min_freq: float = ranged(20.0, 0.0, 24000.0)  # Hz; the top is half the sample rate
    time_masks: int = ranged(2, 0, 16)  # SpecAugment, training only
    time_mask_width: float = ranged(0.1, 0.0, 0.5)  # at most this share of the frames per mask
    freq_masks: int = ranged(2, 0, 16)
    freq_mask_width: float = ranged(0.1, 0.0, 0.5)  # at most this share of the mel bins


def frontend_config(values: dict | None) -> FrontendConfig:
    """The front end's settings, strictly checked (unknown keys, types and ranges)."""
    return cfg.replace(FrontendConfig(), dict(values or {}), where="frontend", prefix="frontend.")


@keras.saving.register_keras_serializable(package="zoo")
class PowerToDb(layers.Layer):
    """Power -> decibels, 10 log10(max(power, min_power)), element by element. Keras's
    ``MelSpectrogram(power_to_db=True)`` also clips at 80 dB below the maximum of the whole
    batch, so one clip's features would change with the clips served beside it. The floor,
    1e-4 (-40 dB; about 80 dB below a loud clip's peak power here), must survive float16: a
    float16 TFLite export turned Keras's 1e-10 into 0 and every silent frame into -inf."""

    def __init__(self, min_power: float = 1e-4, **kwargs):
        super().__init__(**kwargs)
        self.min_power = min_power

    def call(self, x):
        return 10.0 * ops.log(ops.maximum(x, self.min_power)) / math.log(10.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "min_power": self.min_power}


@keras.saving.register_keras_serializable(package="zoo")
class SpecAugment(layers.Layer):
    """Zero ``time_masks`` random spans of frames and ``freq_masks`` of mel bins per example
    while training; the identity at inference (and so in every export)."""

    def __init__(
        self,
        time_masks: int = 2,
        time_mask_width: float = 0.1,
        freq_masks: int = 2,
        freq_mask_width: float = 0.1,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.time_masks, self.time_mask_width = time_masks, time_mask_width
        self.freq_masks, self.freq_mask_width = freq_masks, freq_mask_width
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _keep(self, batch, size, masks: int, width: float):
        """(batch, size) 1/0: positions outside every mask."""
        positions = ops.arange(size, dtype="float32")[None, :]
        keep = ops.ones((batch, size), dtype="float32")
        for _ in range(masks):
            w = ops.floor(keras.random.uniform((batch, 1), seed=self.seed_generator) * width * size)
            start = ops.floor(
                keras.random.uniform((batch, 1), seed=self.seed_generator) * (size - w)
            )
            inside = ops.logical_and(positions >= start, positions < start + w)
            keep = keep * (1.0 - ops.cast(inside, "float32"))
        return keep

    def call(self, x, training=None):  # x: (batch, frames, mel bins)
        if not training or not (self.time_masks or self.freq_masks):
            return x
        batch, frames, bins = ops.shape(x)[0], x.shape[1], x.shape[2]
        keep_t = self._keep(batch, frames, self.time_masks, self.time_mask_width)
        keep_f = self._keep(batch, bins, self.freq_masks, self.freq_mask_width)
        mask = keep_t[:, :, None] * keep_f[:, None, :]
        return x * ops.cast(mask, x.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "time_masks": self.time_masks,
            "time_mask_width": self.time_mask_width,
            "freq_masks": self.freq_masks,
            "freq_mask_width": self.freq_mask_width,
            "seed": self.seed,
        }


def _frames(rate: int, c: FrontendConfig) -> tuple[int, int, int]:
    """(window, hop, FFT length) in samples."""
    window = max(2, round(rate * c.frame_ms / 1000))
    hop = max(1, round(rate * c.hop_ms / 1000))
    return window, hop, 1 << (window - 1).bit_length()  # the FFT: the next power of two


def min_clip_samples(sample_rate: int, frontend: dict | None) -> int:
    """The shortest clip the front end reads: the STFT centres its first frame by mirroring
    FFT/2 samples at each end, which needs more samples than that."""
    return _frames(int(sample_rate), frontend_config(frontend))[2] // 2 + 1


def spectrogram(waveforms, info, image: bool):
    """float waveforms (batch, samples) -> normalised log-mel features: (batch, frames, mel
    bins), or (batch, frames, mel bins, 1) with ``image``."""
    c = frontend_config(info.frontend)
    rate = int(info.sample_rate)
    window, hop, fft = _frames(rate, c)
    need, clip = min_clip_samples(rate, info.frontend), info.input_shape[0]
    if clip is not None and clip < need:
        from zoo.errors import ZooError

        raise ZooError(
            f"audio clips of {clip} samples are shorter than the front end's window needs "
            f"({need} samples, {need / rate:.3f} s at {rate} Hz); raise --clip-seconds"
        )
    x = layers.MelSpectrogram(
        fft_length=fft,
        sequence_length=window,
        sequence_stride=hop,
        sampling_rate=rate,
        num_mel_bins=c.num_mel_bins,
        min_freq=min(c.min_freq, rate / 4),
        max_freq=rate / 2,
        power_to_db=False,  # Keras's dB clips at the max of the whole batch: see PowerToDb
        name="frontend_mel",
    )(waveforms)
    x = PowerToDb(name="frontend_db")(x)
    x = layers.Permute((2, 1), name="frontend_frames")(x)  # (batch, frames, mel bins)
    x = layers.BatchNormalization(name="frontend_norm")(x)  # per mel bin
    x = SpecAugment(
        c.time_masks, c.time_mask_width, c.freq_masks, c.freq_mask_width, name="spec_augment"
    )(x)
    if image:
        x = layers.Reshape((*x.shape[1:], 1), name="frontend_image")(x)
    return x
