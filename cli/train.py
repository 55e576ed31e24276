"""``zoo train MODEL --dataset NAME``."""

from __future__ import annotations

import click

from cli._common import (
    ZooCommand,
    console,
    data_dir_option,
    emit_json,
    json_option,
    runs_dir_option,
)
from zoo.config import (
    AUGMENTATIONS,
    KEEP,
    OPTIMIZERS,
    PRECISIONS,
    SCHEDULES,
    STANDARDIZE,
    STRATEGIES,
    XLA_MODES,
)


def _choices(values) -> str:
    return "|".join(values)


def _compose(*decorators):
    def apply(fn):
        for decorator in reversed(decorators):
            fn = decorator(fn)
        return fn

    return apply


# Options `zoo train` and `zoo pretrain` share (their values all default to None: unset flags
# leave the recipe, --config and --set values alone).
run_options = _compose(
    click.argument("model"),
    click.option(
        "--dataset", "-d", default=None, help="TFDS dataset name, e.g. cifar10, imdb_reviews."
    ),
    click.option(
        "--split",
        "train_split",
        default=None,
        help="TFDS split to train on, e.g. 'train[:50%]', 'unsupervised'.",
    ),
    click.option("--epochs", type=int, default=None),
    click.option(
        "--batch-size", type=int, default=None, help="Global batch (all replicas together)."
    ),
    click.option("--learning-rate", "--lr", type=float, default=None, help="Peak learning rate."),
    click.option("--optimizer", default=None, help=_choices(OPTIMIZERS)),
    click.option(
        "--weight-decay", type=float, default=None, help="Decoupled; not on biases/norms."
    ),
    click.option("--schedule", default=None, help=_choices(SCHEDULES)),
    click.option("--warmup-epochs", type=float, default=None, help="Linear warmup from 0."),
    click.option("--max-tokens", type=int, default=None, help="Text: vocabulary size."),
    click.option("--sequence-length", type=int, default=None, help="Text: tokens per example."),
    click.option("--seed", type=int, default=None, help="Seeds weights, shuffling, augmentation."),
    click.option(
        "--keep",
        default=None,
        help=f"{_choices(KEEP)}: the weights the run saves, tests and exports (best: the best "
        "validation epoch; last: the final epoch, for schedules that anneal to 0).",
    ),
    click.option(
        "--deterministic/--no-deterministic",
        default=None,
        help="Op determinism: identical metrics run to run, slower.",
    ),
    click.option(
        "--smoke",
        is_flag=True,
        default=None,
        help="Tiny splits and 1 epoch: checks the whole path in seconds.",
    ),
    click.option(
        "--init-from",
        default=None,
        metavar="RUN",
        help="Start from the matching layers of RUN (a run name or directory, e.g. a `zoo "
        "pretrain` run); a classifier head starts fresh. Text keeps RUN's vocabulary.",
    ),
    click.option("--strategy", default=None, help=_choices(STRATEGIES)),
    click.option("--tpu", default=None, envvar="TPU_NAME", help="TPU address for --strategy tpu."),
    click.option(
        "--precision",
        default=None,
        help=f"{_choices(PRECISIONS)} (auto: mixed where the hardware runs it natively; "
        "`zoo doctor` shows the pick).",
    ),
    click.option("--xla", default=None, help=f"{_choices(XLA_MODES)} (auto: on for one GPU)."),
    click.option(
        "--steps-per-execution",
        type=int,
        default=None,
        help="Training steps per tf.function call (recipe: 16 for mlp and cnn, else 1); made a "
        "divisor of an epoch's steps, and 1 under MirroredStrategy.",
    ),
    click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="YAML or JSON file of training keys (and `model:` architecture keys).",
    ),
    click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override one key, e.g. --set learning_rate=0.01 --set model.dropout=0.2.",
    ),
    click.option(
        "--run-name",
        default=None,
        help="Default: MODEL-DATASET-TIMESTAMP. Rerunning an "
        "interrupted run's command with its name resumes it.",
    ),
    runs_dir_option,
    data_dir_option,
    click.option(
        "--download/--no-download",
        default=True,
        show_default=True,
        help="Download the dataset when it is not prepared.",
    ),
    click.option("--print-config", is_flag=True, help="Print the resolved config and exit."),
    json_option,
)


def resolve(model, dataset, config_file, sets, flags, pretraining=False, out=None):
    """The resolved TrainConfig (--data-dir joins the config only when given); its notes (a
    preset's limit that replaced a recipe default) are printed to ``out``."""
    from zoo import api

    data_dir = flags.pop("data_dir", None)
    if data_dir:
        flags["data_dir"] = data_dir
    notes: list[str] = []
    config = api.resolve_train_config(model, dataset, config_file, sets, flags, pretraining, notes)
    for line in notes:
        (out or console(True)).print(line)
    return config


# Options of a classification run that `zoo tune` and `zoo sweep` take too (pretraining has
# no labels, augmentation or validation fraction of its own).
classifier_options = _compose(
    click.option("--momentum", type=float, default=None, help="sgd and rmsprop."),
    click.option("--label-smoothing", type=float, default=None),
    click.option(
        "--augment",
        default=None,
        help=f"{_choices(AUGMENTATIONS)} (shift: audio; the rest: images).",
    ),
    click.option("--image-size", type=int, default=None, help="Resize images to this square size."),
    click.option(
        "--clip-seconds",
        type=float,
        default=None,
        help="Audio: cut or pad clips to this length (default: 95th percentile of training clips).",
    ),
    click.option("--standardize", default=None, help=f"Text: {_choices(STANDARDIZE)}."),
    click.option(
        "--val-fraction",
        type=float,
        default=None,
        help="Held out of train when the dataset has no validation split (default 0.1).",
    ),
    click.option("--early-stopping", type=int, default=None, help="Patience in epochs; 0 is off."),
)


@click.command("train", cls=ZooCommand)
@run_options
@classifier_options
@click.option(
    "--export",
    "export_to",
    default=None,
    metavar="ROOT",
    help="When training finishes, export the run to ROOT/RUN/1 (verified SavedModel).",
)
def train(
    model,
    dataset,
    config_file,
    sets,
    run_name,
    runs_dir,
    tpu,
    download,
    export_to,
    print_config,
    as_json,
    **flags,
):
    """Train MODEL on a TFDS image, text or audio classification dataset.

    Writes runs/<run-name>/: config.json, dataset.json, checkpoints/, logs/ (TensorBoard),
    history.csv, model.keras (the best validation epoch's weights, or the last epoch's with
    --keep last) and metrics.json (test split).
    Settings resolve as: defaults < the model's recipe < --config < --set < flags.

    \b
    Examples:
      zoo train cnn --dataset cifar10
      zoo train mlp -d fashion_mnist --epochs 5 --lr 3e-4
      zoo train resnet20 -d cifar10 --set model.dropout=0.1 --run-name r20
      zoo train cnn -d mnist --smoke
      zoo train bert_tiny -d imdb_reviews --init-from runs/bert-mlm   # fine-tune
      zoo train ds_cnn -d speech_commands --set frontend.num_mel_bins=40   # keyword spotting
    """
    from zoo import api
    from zoo.config import to_dict

    config = resolve(model, dataset, config_file, sets, flags, out=console(as_json or print_config))
    if print_config:
        emit_json(to_dict(config))
        return
    summary = api.train(
        config,
        run_name,
        runs_dir,
        tpu=tpu,
        download=download,
        export_to=export_to,
        console=console(as_json),
    )
    if as_json:
        emit_json(summary)
