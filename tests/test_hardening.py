"""Hardening, round two: audio clips shorter than the front end's window, a preset's limits
over a recipe's defaults, what `zoo predict` says of audio, the facade's size and articles."""

from pathlib import Path

import pytest
from helpers import PROJECT, assert_one_line_error, smoke_args, zoo, zoo_json

AUDIO_FAMILIES = ["cnn", "ds_cnn", "resnet20", "lstm", "gru", "simple_rnn"]


@pytest.mark.parametrize("model", AUDIO_FAMILIES)
def test_clips_shorter_than_the_window_are_padded_or_refused_in_one_line(model, mock_tfds, workdir):
    """Mocked speech_commands clips hold a few dozen samples (16 kHz, a 512-sample FFT): the
    automatic clip length is padded up to what the front end needs, with a note; a family
    whose first layers need more frames than that says so in one line naming --clip-seconds."""
    result = zoo(*smoke_args(model, "speech_commands", "a"), ok=False)
    if result.exit_code == 0:
        assert "below the 257 the front end's window needs" in result.output
        assert Path("runs/a/metrics.json").is_file()
    else:
        assert_one_line_error(result, "--clip-seconds")


@pytest.mark.parametrize("model", ["lstm", "ds_cnn"])
def test_an_explicit_clip_too_short_for_the_window_is_refused(model, mock_tfds, workdir):
    result = zoo(*smoke_args(model, "speech_commands", "a", "--clip-seconds", "0.01"), ok=False)
    assert_one_line_error(result, "--clip-seconds 0.01 is 160 samples", "--clip-seconds 0.016")
    assert not Path("runs/a/config.json").exists()


def test_the_front_end_itself_refuses_a_too_short_input():
    import dataclasses

    from zoo.data.datasets import reference_info
    from zoo.errors import ZooError
    from zoo.models import registry

    info = dataclasses.replace(reference_info("audio"), input_shape=(100,))
    with pytest.raises(ZooError, match="shorter than the front end's window needs"):
        registry.create_model("lstm", info)


def test_predict_help_speaks_of_audio():
    text = zoo("predict", "--help").output
    assert "WAV files (audio models)" in text and "sample rate" in text
    assert "zoo predict runs/ds_cnn-spoken_digit three.wav" in text


def test_the_facade_stays_a_facade():
    lines = (PROJECT / "zoo" / "api.py").read_text().splitlines()
    assert len(lines) <= 300, f"zoo/api.py has {len(lines)} lines; move what is not a wrapper down"


@pytest.mark.parametrize(
    "word,expected",
    [("audio", "an audio"), ("image", "an image"), ("text", "a text"), ("lstm", "an lstm"),
     ("mlp", "an mlp"), ("resnet20", "a resnet20"), ("BERT", "a BERT"), ("mlm", "an mlm")],
)  # fmt: skip
def test_articles(word, expected):
    from zoo.errors import with_article

    assert with_article(word) == expected


def test_a_modality_in_a_sentence_takes_its_article(mock_tfds, workdir):
    result = zoo(*smoke_args("vit_tiny", "speech_commands", "x"), ok=False)
    assert_one_line_error(result, "pick an audio model")
    result = zoo(*smoke_args("ds_cnn", "mnist", "x"), ok=False)
    assert "a audio" not in result.output and "a image" not in result.output


def test_resume_and_print_config_still_answer(mock_tfds, workdir):
    """The wrappers that moved down a layer (resume, dataset info) behave as before."""
    assert_one_line_error(zoo("resume", "nowhere", ok=False), "not a run directory")
    info = zoo_json("datasets", "info", "mnist")
    assert info["num_classes"] == 10
