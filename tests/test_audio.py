"""Audio: TFDS audio datasets train through the same engine (log-mel front end inside the
model), evaluate, export raw-audio SavedModels (WAV bytes and waveforms) and TFLite files, and
predict WAV files; wrong pairings of model and data are one line."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import PROJECT, assert_one_line_error, smoke_args, zoo, zoo_json

CLIP = ("--clip-seconds", "0.25")  # mocked clips hold a few dozen samples: pad them


def _wav(path: Path, rate: int, seconds: float = 0.3, hz: float = 440.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    wave = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    blob = tf.audio.encode_wav(wave[:, None], rate).numpy()
    path.write_bytes(blob)
    return blob


@pytest.mark.parametrize(
    "dataset,rate,model",
    [
        ("spoken_digit", 8000, "ds_cnn"),
        ("spoken_digit", 8000, "lstm"),
        ("spoken_digit", 8000, "cnn"),
        ("speech_commands", 16000, "cnn"),
        ("speech_commands", 16000, "ds_cnn"),
        ("speech_commands", 16000, "lstm"),
    ],
)
def test_train_eval_export_serve_wav_tflite(dataset, rate, model, mock_tfds, workdir):
    summary = zoo_json(*smoke_args(model, dataset, "a", *CLIP))
    info = zoo_json("runs", "show", "runs/a")["record"]
    assert info["task"] == "classify"
    facts = zoo_json("eval", "runs/a", "--smoke")
    assert facts["accuracy"] == summary["test_accuracy"]  # one number per run

    exported = zoo_json("export", "runs/a", "--verify")
    assert set(exported["verify"]) == {"serving_default", "serving_waveforms"}
    assert all(check["ok"] for check in exported["verify"].values())

    # A client sends WAV bytes; `zoo predict` reads a WAV file: both give the same answer.
    blob = _wav(Path("tone.wav"), rate)
    loaded = tf.saved_model.load(exported["export_dir"])
    served = loaded.signatures["serving_default"](audio_bytes=tf.constant([blob]))
    classes = served["probabilities"].shape[-1]
    np.testing.assert_allclose(served["probabilities"].numpy().sum(-1), 1.0, atol=1e-5)
    waves = loaded.signatures["serving_waveforms"](
        waveforms=tf.constant([np.zeros(rate, np.float32)]), lengths=tf.constant([rate // 2])
    )
    assert waves["probabilities"].shape == (1, classes)
    predicted = zoo_json("predict", exported["export_dir"], "tone.wav", "-k", "2")
    assert predicted[0]["top"][0]["class_id"] == int(served["class_id"].numpy()[0])
    assert "tone.wav" in zoo("predict", "runs/a", "tone.wav").output

    quantize = "dynamic" if model == "ds_cnn" else "float16"
    lite = zoo_json("export", "runs/a", "--format", "tflite", "--quantize", quantize,
                    "--calibration-examples", "8", "--eval-examples", "8")  # fmt: skip
    assert lite["examples"] == 8 and lite["size_ratio"] > 1
    if quantize == "float16":  # (int8 weights of an untrained model: top-1 is noise)
        assert lite["agreement"] >= 0.75
    from_lite = zoo_json("predict", lite["export_dir"], "tone.wav")
    assert len(from_lite[0]["top"]) == min(5, classes)
    if quantize == "float16":  # a short tone: the clip ends in padded silence (the dB floor)
        _wav(Path("short.wav"), rate, seconds=0.05)
        lite_top = zoo_json("predict", lite["export_dir"], "short.wav")[0]["top"][0]
        run_top = zoo_json("predict", "runs/a", "short.wav")[0]["top"][0]
        assert lite_top["class_id"] == run_top["class_id"]
        assert abs(lite_top["probability"] - run_top["probability"]) < 0.01


def test_full_integer_int8_of_audio_is_refused(mock_tfds, workdir):
    zoo(*smoke_args("ds_cnn", "spoken_digit", "a", *CLIP))
    result = zoo("export", "runs/a", "--format", "tflite", "--quantize", "int8", ok=False)
    assert_one_line_error(result, "int8 quantization of the audio front end", "--quantize float16")
    assert not Path("saved_models").exists()


def test_wrong_sample_rate_and_not_a_wav(mock_tfds, workdir):
    zoo(*smoke_args("ds_cnn", "spoken_digit", "a", *CLIP))
    # A fresh process loads the run's model.keras (its front-end layers are registered).
    fresh = subprocess.run(
        [sys.executable, str(PROJECT / "tests" / "mocked_zoo.py"), "24", "export", "runs/a"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    _wav(Path("fast.wav"), 16000)
    assert_one_line_error(zoo("predict", "runs/a", "fast.wav", ok=False), "16000 Hz", "8000 Hz")
    Path("notes.wav").write_text("not audio")
    assert_one_line_error(zoo("predict", "runs/a", "notes.wav", ok=False), "not a WAV file")


@pytest.mark.parametrize(
    "model,dataset,needle",
    [
        ("transformer", "spoken_digit", "takes text input but dataset spoken_digit is audio"),
        ("ds_cnn", "imdb_reviews", "takes audio input but dataset imdb_reviews is text"),
        ("ds_cnn", "mnist", "takes audio input but dataset mnist is image"),
        ("vit_tiny", "speech_commands", "is audio data"),
    ],
)
def test_model_and_modality_must_match(model, dataset, needle, mock_tfds, workdir):
    assert_one_line_error(zoo(*smoke_args(model, dataset, "x"), ok=False), needle)
    assert not Path("runs").exists()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--augment", "flip"], "--augment flip does not apply to audio"),
        (["--set", "frontend.num_mel_bins=2"], "frontend.num_mel_bins must be in [4, 512]"),
        (["--set", "frontend.window=3"], "unknown key 'window' in frontend"),
        (["--clip-seconds", "0"], "clip_seconds must be in"),
    ],
)
def test_audio_settings_are_checked(args, needle, mock_tfds, workdir):
    assert_one_line_error(zoo(*smoke_args("ds_cnn", "spoken_digit", "x", *args), ok=False), needle)


def test_frontend_masks_only_while_training():
    from zoo.models.audio import SpecAugment

    layer = SpecAugment(2, 0.3, 2, 0.3, seed=1)
    x = np.ones((4, 50, 20), np.float32)
    np.testing.assert_array_equal(layer(x, training=False), x)
    masked = np.asarray(layer(x, training=True))
    assert 0 < (masked == 0).mean() < 0.8
    assert set(np.unique(masked)) <= {0.0, 1.0}


def test_clip_length_shift_and_wav_decoding():
    from zoo.data import preprocess

    wave = tf.constant(np.arange(10, dtype=np.int16))
    assert preprocess.fit_length(wave, 4).numpy().tolist() == [3, 4, 5, 6]  # the centre
    assert preprocess.fit_length(wave, 12).numpy().tolist() == [*range(10), 0, 0]
    clips = tf.constant(np.tile(np.arange(1, 101, dtype=np.int16), (16, 1)))
    a = preprocess.shift_audio(clips, tf.constant([1, 2], tf.int64)).numpy()
    b = preprocess.shift_audio(clips, tf.constant([1, 2], tf.int64)).numpy()
    assert (a == b).all() and a.shape == (16, 100)  # a seed fixes the shifts
    shifts = set()
    for clip in a:  # each clip is the original moved by at most 10 samples, silence filled in
        shift = int(clip[clip != 0][0]) - 1 - int(np.argmax(clip != 0))
        assert -10 <= shift <= 10
        np.testing.assert_array_equal(clip, np.pad(np.arange(1, 101), 10)[10 + shift : 110 + shift])
        shifts.add(shift)
    assert len(shifts) > 3  # each clip its own draw
    samples = np.array([0, 1000, -1000, 32767], np.float32) / 32768
    blob = tf.audio.encode_wav(samples[:, None], 8000)
    assert preprocess.decode_wav(blob, 8000, 4).numpy().tolist() == [0, 1000, -1000, 32767]
    with pytest.raises(tf.errors.InvalidArgumentError, match="differs from the model's 16000"):
        preprocess.decode_wav(blob, 16000, 4)


def test_datasets_without_test_split_hold_out_a_disjoint_test_portion():
    from zoo.data.datasets import _choose_splits

    notes = []
    train, val, test = _choose_splits({"train": 2500}, 0.1, notes)
    assert (train, val, test) == ("train[:2000]", "train[2000:2250]", "train[2250:]")
    assert "never trained on" in notes[0]


def test_an_example_does_not_depend_on_its_batch():
    """Serving one clip or a batch, the front end gives each clip the same features (Keras's
    MelSpectrogram clips at the batch maximum unless top_db is None)."""
    from zoo.data.datasets import DatasetInfo
    from zoo.models import registry

    info = DatasetInfo(
        "t", "audio", "audio", "label", 3, ("a", "b", "c"), (4000,), sample_rate=8000
    )
    model = registry.create_model("ds_cnn", info)
    t = np.arange(4000) / 8000
    loud = (0.9 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    quiet = (0.001 * np.sin(2 * np.pi * 1200 * t)).astype(np.float32)
    alone = model(quiet[None], training=False).numpy()
    together = model(np.stack([loud, quiet]), training=False).numpy()[1:]
    np.testing.assert_allclose(alone, together, atol=1e-5)
