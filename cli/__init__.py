"""The ``zoo`` command line. Every command is a thin shell around one call in ``zoo.api``;
TensorFlow is only imported inside command bodies, so ``zoo --help`` is instant."""

from __future__ import annotations

import click

from cli._common import ZooGroup
from zoo import __version__


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zoo")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def main(debug: bool) -> None:
    """zoo: train, evaluate and export classic Keras models on any TFDS dataset.

    \b
    Quick start:
      zoo models                                   # what can be trained
      zoo train cnn --dataset fashion_mnist         # train; writes runs/<run-name>/
      zoo eval runs/<run-name>                      # metrics on the test split
      zoo export runs/<run-name> --verify           # SavedModel for TF Serving
      zoo predict saved_models/<run-name> shirt.png # top-5 classes
      zoo pretrain bert_tiny -d imdb_reviews --split unsupervised   # masked-LM pretraining
      zoo resume runs/<run-name>                    # continue an interrupted run
      zoo tune cnn -d cifar10 --trials 16           # search the recipe (Optuna)
      zoo sweep cnn -d cifar10 --seeds 0,1,2        # the same run over seeds and values
    """


from cli import (
    benchmark,
    data,
    datasets,
    doctor,
    evaluate,
    export,
    models,
    predict,
    pretrain,
    resume,
    runs,
    train,
    tune,
)

for command in (
    models.models,
    train.train,
    pretrain.pretrain,
    resume.resume,
    evaluate.eval_command,
    export.export,
    predict.predict,
    data.data,
    datasets.datasets,
    runs.runs,
    doctor.doctor,
    benchmark.benchmark,
    tune.tune,
    tune.sweep,
    tune.tune_worker,
):
    main.add_command(command)
