"""Single-label classification of images, texts and sentence pairs (``zoo train``)."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import keras

from zoo.data import datasets as data_lib
from zoo.data import modalities, pipelines
from zoo.errors import ZooError
from zoo.models import registry
from zoo.runs import rundir
from zoo.tasks.base import Task, TrainingData
from zoo.training import optimizers

EVAL_BATCH = 256  # what `zoo eval` uses by default: the run's test metrics are its numbers
INIT_SAMPLE = 5000  # training images a data-fitted layer sees (airbench's whitening: 5,000)


class Classification(Task):
    name = "classify"

    def data(self, config, spec, *, vocab_dir: Path | None, download: bool, console):
        """Metadata first (wrong kinds are refused before any download), then prepare, split,
        and the modality's pieces (the text vocabulary from the training split only)."""
        info, builder = inspect_dataset(config, spec, download)
        info = modalities.complete(info, builder, config, spec, console)
        for note in info.notes:
            console.print(f"note: {note}")
        split = functools.partial(
            pipelines.load_split, builder, info, smoke=config.smoke, seed=config.seed
        )
        train_raw = split(info.train_split, role="train")
        val_raw = split(info.val_split, role="val")

        def texts():
            texts = train_raw.map(lambda x, y: x)
            return texts.unbatch() if info.pair_key else texts  # both texts of each pair

        pieces = modalities.adapter(info, spec, texts, config, vocab_dir, console)
        info = pieces.info
        # Known sizes let Keras size its epochs; decoded splits are cached by the counting pass.
        cache = "encode" not in pieces.pipeline
        train_raw, n_train = pipelines.counted(
            train_raw, info, bound=data_lib.split_size(builder, info, info.train_split), cache=cache
        )
        if n_train == 0:
            raise ZooError(f"the training split {info.train_split} of {info.name} is empty")
        val_raw, _ = pipelines.counted(
            val_raw, info, bound=data_lib.split_size(builder, info, info.val_split), cache=cache
        )
        make = functools.partial(
            pipelines.make_pipeline,
            info=info,
            batch_size=config.batch_size,
            cached=cache,
            **pieces.pipeline,
        )

        def train(first_epoch: int, steps: int):
            return make(
                train_raw,
                training=True,
                seed=config.seed,
                augment=config.augment,
                examples=n_train,
                epochs=(first_epoch, config.epochs),
                steps=steps,
            )

        def sample(n: int):
            import numpy as np

            x = next(iter(train_raw.take(n).batch(n)))[0]
            prepare = pieces.pipeline.get("preprocess")
            return np.asarray(prepare(x) if prepare is not None else x)

        return TrainingData(
            info=info,
            examples=n_train,
            train=train,
            val=make(val_raw, training=False),
            encoder=pieces.encoder,
            facts={"train_examples": n_train, "test_split": info.test_split},
            sample=sample,
        )

    def build(self, spec, data: TrainingData, config):
        """The family's model; layers it fits to data (``spec.init_from_data``) see the first
        INIT_SAMPLE training inputs (a resumed run's checkpoint then overwrites them)."""
        model = registry.create_model(spec.name, data.info, config.model_config)
        if spec.init_from_data is not None and data.sample is not None:
            spec.init_from_data(model, data.sample(INIT_SAMPLE))
        return model

    def compile(
        self, model, config, steps_per_epoch: int, jit: bool, per_execution: int = 1
    ) -> None:
        num_classes = model.output_shape[-1]
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        if num_classes > 5:
            metrics.append(keras.metrics.TopKCategoricalAccuracy(5, name="top5"))
        spec = registry.get_spec(config.model)
        by_epoch = (
            spec.param_groups(registry.model_config(spec.name, config.model_config))
            if spec.param_groups is not None
            else {}
        )
        groups = {  # freezing epochs -> steps
            pattern: (multiplier, None if epoch is None else epoch * steps_per_epoch)
            for pattern, (multiplier, epoch) in by_epoch.items()
        }
        model.compile(
            optimizer=optimizers.make_optimizer(config.optimization, steps_per_epoch, groups),
            loss=keras.losses.CategoricalCrossentropy(
                from_logits=True, label_smoothing=config.label_smoothing
            ),
            metrics=metrics,
            jit_compile=jit,
            steps_per_execution=per_execution,
        )

    def evaluate(self, run, model, data: TrainingData, config) -> dict[str, Any]:
        """The test split through the saved model's float32 inference graph: the very code
        `zoo eval RUN` runs, so both give the same numbers whatever the training precision."""
        from zoo.training import evaluation

        report = evaluation.evaluate_target(
            run.path,
            split=data.info.test_split,
            data_dir=config.data_dir,
            batch_size=EVAL_BATCH,
            smoke=config.smoke,
        )
        keep = ("target", "kind", "dataset", "split", "plots")
        metrics = {k: v for k, v in report.items() if k not in keep}
        return {
            "best_val_accuracy": rundir.best_so_far(run.work / "history.csv"),
            "test_accuracy": metrics["accuracy"],
            "test_loss": metrics["loss"],
            "metrics": metrics,
        }

    def plots(self, run, data: TrainingData, summary: dict, console) -> list[str]:
        """Training curves and the test confusion matrix (curves only for a run finished
        without its test evaluation, as a study's trials are)."""
        from zoo.runs import plots

        if "metrics" not in summary:
            return super().plots(run, data, summary, console)
        history = run.file("history.csv")
        names = data.info.label_names
        return plots.write_plots(run.path / "plots", summary["metrics"], names, history, console)

    def report(self, summary: dict) -> str:
        if "metrics" not in summary:  # finished without the test split (a study's trial)
            accuracy = summary.get("val_accuracy", float("nan"))
            return (
                f"validation accuracy {accuracy:.4f} (epoch {summary.get('kept_epoch')}; not "
                f"tested) in {summary['wall_time_s']}s -> {summary['run_dir']}"
            )
        m = summary["metrics"]
        line = (
            f"test accuracy {m['accuracy']:.4f} ({summary['test_split']}, {m['examples']} "
            f"examples) in {summary['wall_time_s']}s -> {summary['run_dir']}"
        )
        c = summary.get("compute")
        if c and c.get("share_of_peak") is not None:
            line += (
                f"\ntraining {c['train_flops'] / 1e12:.1f} TFLOP at {c['train_flops_per_s'] / 1e9:.1f}"
                f" GFLOP/s over the run's wall time: {100 * c['share_of_peak']:.1f}% of this "
                f"machine's {c['matmul_peak_dtype']} matmul peak "
                f"({c['matmul_peak_flops_per_s'] / 1e9:.0f} GFLOP/s, probed now)"
            )
        return line


def inspect_dataset(config, spec, download: bool):
    """-> (DatasetInfo, prepared builder). The metadata is read, and the model checked against
    it, before anything is downloaded; the builder is made again only when it was prepared here
    (its split sizes are known only then)."""

    def inspect(builder):
        return data_lib.inspect(
            config.dataset,
            config.data_dir,
            image_size=config.image_size,
            val_fraction=config.val_fraction,
            sequence_length=config.sequence_length,
            clip_seconds=config.clip_seconds,
            builder=builder,
        )

    builder = data_lib.get_builder(config.dataset, config.data_dir)
    info = inspect(builder)
    registry.check_dataset(spec, info)
    if not data_lib.is_prepared(builder):
        data_lib.ensure_prepared(builder, download)
        builder = data_lib.get_builder(config.dataset, config.data_dir)
        info = inspect(builder)
    if config.train_split:
        default = info.train_split
        info = dataclasses.replace(info, train_split=config.train_split)
        data_lib.split_size(builder, info, info.train_split)
        for role, other in (("test", info.test_split), ("validation", info.val_split)):
            if other and data_lib.overlap(builder, info.train_split, other):
                what = "reports the run's accuracy" if role == "test" else "picks the best epoch"
                raise ZooError(
                    f"--split {info.train_split!r} overlaps the {role} split {other!r} of "
                    f"{info.name}, which {what}; train on examples disjoint from it (the "
                    f"default is {default!r})"
                )
    return info, builder
