"""``zoo pretrain MODEL --dataset NAME [--split SPLIT]``: masked-language-model pretraining."""

from __future__ import annotations

import click

from cli._common import ZooCommand, console, emit_json
from cli.train import resolve, run_options


@click.command("pretrain", cls=ZooCommand)
@run_options
def pretrain(
    model,
    dataset,
    config_file,
    sets,
    run_name,
    runs_dir,
    tpu,
    download,
    print_config,
    as_json,
    **flags,
):
    """Pretrain a BERT-style MODEL as a masked language model on raw text.

    Reads the text of --split (default: the dataset's training split; labels are ignored, so
    unlabeled splits work), learns a WordPiece vocabulary from it, and trains the encoder to
    predict 15% of the tokens (80% shown as [MASK], 10% as a random token, 10% unchanged).
    Reports masked-token loss and accuracy on texts held out of the split. The run directory
    (runs/<run-name>/) keeps the model and the vocabulary; fine-tune it with
    `zoo train MODEL --dataset NAME --init-from runs/<run-name>`.

    \b
    Examples:
      zoo pretrain bert_tiny --dataset imdb_reviews --split unsupervised
      zoo pretrain bert_mini -d imdb_reviews --split 'unsupervised[:20%]' --epochs 1
      zoo pretrain bert_tiny -d imdb_reviews --split unsupervised \\
          --init-from bert_tiny-mlm --sequence-length 320 --epochs 1   # 2nd phase
      zoo pretrain bert_tiny -d imdb_reviews --smoke
    """
    from zoo import api
    from zoo.config import to_dict

    config = resolve(model, dataset, config_file, sets, flags, pretraining=True)
    if print_config:
        emit_json(to_dict(config))
        return
    summary = api.pretrain(
        config, run_name, runs_dir, tpu=tpu, download=download, console=console(as_json)
    )
    if as_json:
        emit_json(summary)
