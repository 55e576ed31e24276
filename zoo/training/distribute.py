"""Strategy resolution (auto / one_device / mirrored / multi_worker / tpu), precision and XLA.

``--batch-size`` is the *global* batch: tf.distribute splits it across replicas, so the same
command gives the same optimisation on 1 or 8 devices. Both numbers are printed and stored.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from dataclasses import asdict, dataclass

from zoo.errors import ZooError


@dataclass(frozen=True)
class StrategyReport:
    strategy: str
    devices: tuple[str, ...]
    replicas: int
    global_batch_size: int
    per_replica_batch_size: int
    precision: str
    xla: bool
    is_chief: bool = True

    def to_json(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        return [
            f"strategy {self.strategy} on {', '.join(self.devices)} ({self.replicas} replica"
            f"{'s' if self.replicas != 1 else ''})",
            f"batch {self.global_batch_size} global, {self.per_replica_batch_size} per replica; "
            f"precision {self.precision}; XLA {'on' if self.xla else 'off'}",
        ]


def _devices(kind: str) -> list[str]:
    import tensorflow as tf

    return [d.name for d in tf.config.list_logical_devices(kind)]


def _tpu_strategy(address: str | None):
    import tensorflow as tf

    address = address or os.environ.get("TPU_NAME")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise ZooError(
            f"no TPU could be reached ({str(e).splitlines()[0][:120]}); pass --tpu ADDRESS on a "
            "TPU VM or pick --strategy auto"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def _tpu_configured(address: str | None) -> bool:
    return bool(address or os.environ.get("TPU_NAME") or os.environ.get("TPU_WORKER_ID"))


def create_strategy(name: str, tpu: str | None = None):
    """-> a tf.distribute strategy; impossible requests raise ZooError (one line)."""
    import tensorflow as tf

    # Multi-worker first: collective ops must be configured before anything touches devices.
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ZooError(
                "--strategy multi_worker needs TF_CONFIG describing the cluster and this worker's "
                "task (see README 'Scaling out')"
            )
        try:
            json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError:
            raise ZooError("TF_CONFIG is not valid JSON") from None
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus, cpus = _devices("GPU"), _devices("CPU")
    if name == "auto":
        if _tpu_configured(tpu):
            return _tpu_strategy(tpu)
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        # One device: TensorFlow's default strategy, as plain Keras uses. (With an explicit
        # OneDeviceStrategy, a resumed run drifts from an uninterrupted one by ~1e-3 in loss
        # here even with op determinism; with the default strategy it is bit-identical.)
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy((gpus or cpus)[0])
    if name == "mirrored":
        devices = gpus if gpus else cpus
        if len(devices) < 2:
            raise ZooError(
                f"--strategy mirrored needs 2 or more devices but this machine shows "
                f"{len(devices)} ({', '.join(devices)}); use --strategy auto or one_device"
            )
        return tf.distribute.MirroredStrategy(devices)
    if name == "tpu":
        if not _tpu_configured(tpu):
            raise ZooError(
                "--strategy tpu needs --tpu ADDRESS (or TPU_NAME) on a machine with a TPU"
            )
        return _tpu_strategy(tpu)
    raise ZooError(f"unknown strategy {name!r}")


def is_chief(strategy) -> bool:
    """True on the one worker that writes checkpoints, logs and exports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
    )


def patch_keras_for_multi_worker() -> None:
    """Work around keras-team/keras#20585 (Keras 3 fit() under MultiWorkerMirroredStrategy):
    Keras averages each worker's scalar metrics with ``strategy.reduce("MEAN", v, axis=0)``,
    which fails on scalars. Reduce them with ``axis=None`` instead; everything else is Keras's
    own code path. Idempotent; only called for multi-worker runs."""
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if getattr(original, "zoo_patched", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("mean", "auto") and trainer._collective_all_reduce_multi_worker(strategy):
            import keras

            return keras.tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica.zoo_patched = True
    trainer.reduce_per_replica = reduce_per_replica


def cluster_task() -> tuple[str, int] | None:
    """(task type, index) of this process in a multi-worker job (TF_CONFIG), else None. Read
    before any strategy exists, so the run's lock can be taken first."""
    try:
        task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task") or {}
    except (json.JSONDecodeError, AttributeError):
        return None
    if not isinstance(task, dict) or not task.get("type"):
        return None
    return str(task["type"]), int(task.get("index", 0))


def is_chief_task() -> bool:
    """True unless this process is a worker other than the chief (worker 0 without a chief)."""
    task = cluster_task()
    return task is None or task[0] == "chief" or task == ("worker", 0)


def worker_dir(run_name: str) -> str:
    """A stable scratch directory for a non-chief worker: the same path after a restart, so its
    state resumes with the chief's, and never inside the shared runs directory."""
    import tempfile

    kind, index = cluster_task() or ("worker", 0)
    path = os.path.join(tempfile.gettempdir(), "zoo-workers", f"{run_name}-{kind}{index}")
    os.makedirs(path, exist_ok=True)
    return path


def report(strategy, global_batch: int, precision: str, xla: bool) -> StrategyReport:
    replicas = int(strategy.num_replicas_in_sync)
    if global_batch % replicas:
        raise ZooError(
            f"batch size {global_batch} does not split evenly over {replicas} replicas; use a "
            f"multiple of {replicas}"
        )
    try:
        devices = tuple(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy: whatever device TensorFlow places ops on
        devices = (_devices("GPU") or _devices("CPU"))[:1]
    name = type(strategy).__name__
    name = {
        "_DefaultDistributionStrategy": "default",
        "CollectiveAllReduceStrategy": "MultiWorkerMirroredStrategy",
    }.get(name, name)
    return StrategyReport(
        strategy=name,
        devices=devices,
        replicas=replicas,
        global_batch_size=global_batch,
        per_replica_batch_size=global_batch // replicas,
        precision=precision,
        xla=xla,
        is_chief=is_chief(strategy),
    )


def resolve_xla(mode: str, strategy) -> bool:
    """auto: on for one GPU (measured faster there), off on CPU (about 3x slower for the tutorial
    CNN here) and under multi-replica strategies (Keras's own auto does the same)."""
    if mode != "auto":
        return mode == "on"
    if "TPU" in type(strategy).__name__:
        return True
    return bool(_devices("GPU")) and strategy.num_replicas_in_sync == 1


def cpu_has_bf16_matmul(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True on x86 CPUs with bfloat16 matrix instructions, AMX-BF16 (Intel Sapphire Rapids and
    later) or AVX512-BF16 (AMD Zen 4 and later), where oneDNN runs bfloat16 matmuls and
    convolutions faster than float32 (AMX several times; AVX512-BF16 about 1.9x in `zoo
    benchmark`'s matmul probe on an AMD EPYC, the tutorial cnn's steps 1.38x)."""
    try:
        with open(cpuinfo) as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return bool({"amx_bf16", "avx512_bf16"} & set(flags.split()))


def precision_note(policy: str, strategy) -> str | None:
    """A line for ``mixed_bfloat16`` asked for on a CPU without bf16 matmul instructions, where
    oneDNN emulates it: resnet20 trained at 0.4x its float32 speed on such a CPU (docs/
    benchmarks.md). None otherwise."""
    if policy != "mixed_bfloat16" or "TPU" in type(strategy).__name__ or _devices("GPU"):
        return None
    if cpu_has_bf16_matmul():
        return None
    return (
        "note: this CPU has no bf16 matmul instructions (AMX-BF16, AVX512-BF16), so "
        "mixed_bfloat16 runs emulated, often slower than float32; --precision auto picks float32"
    )


def _gpu_capability() -> tuple[int, int] | None:
    """The lowest compute capability among the visible GPUs; None without GPUs."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    caps = [tf.config.experimental.get_device_details(g).get("compute_capability") for g in gpus]
    return min((tuple(c) for c in caps if c), default=(0, 0))


def resolve_precision(mode: str, strategy, modality: str) -> str:
    """The Keras dtype policy for ``--precision MODE``. ``auto`` picks what the hardware runs
    natively: mixed_bfloat16 on TPUs and on GPUs of compute capability 8.0 and up (A100, H100),
    mixed_float16 on 7.x (V100, T4), and on CPUs with AMX-BF16 or AVX512-BF16 mixed_bfloat16 for
    image models (the tutorial cnn trains 1.4-1.5x faster there at the same accuracy, README)
    while text models stay float32 (bert_tiny gains nothing with AMX: 80 vs 82 examples/s);
    float32 elsewhere."""
    if mode != "auto":
        return mode
    if "TPU" in type(strategy).__name__:
        return "mixed_bfloat16"
    capability = _gpu_capability()
    if capability is not None and _devices("GPU"):
        if capability >= (8, 0):
            return "mixed_bfloat16"
        return "mixed_float16" if capability >= (7, 0) else "float32"
    if modality == "image" and cpu_has_bf16_matmul():
        return "mixed_bfloat16"
    return "float32"


def set_precision(policy: str) -> None:
    import keras

    keras.mixed_precision.set_global_policy(policy)


@contextlib.contextmanager
def global_policy(policy: str | None = None):
    """Keras's global dtype policy is put back on leaving the block (set to ``policy`` inside it
    when given), so in-process callers (notebooks, tests, a train followed by an unrelated model)
    do not inherit a run's mixed policy."""
    import keras

    previous = keras.mixed_precision.global_policy()
    if policy is not None:
        keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def restores_precision(fn):
    """Decorate an entry point that calls ``set_precision``: it runs inside ``global_policy()``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with global_policy():
            return fn(*args, **kwargs)

    return wrapper


def shard_by_data(ds):
    """Shard by data, not files: works for every TFDS layout and for mocked datasets."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def patch_multi_worker_build(model, strategy, ds) -> None:
    """Keras 3's fit() builds a model under a strategy by averaging the first distributed batch
    across replicas, which fails under MultiWorkerMirroredStrategy ("Attempt to convert a value
    (PerReplica...)", keras-team/keras#20585). Build from a local batch instead; the symbolic
    build only needs shapes."""
    batch = next(iter(ds.take(1)))

    def build(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=batch)

    object.__setattr__(model, "_maybe_symbolic_build", build)  # bypass Keras attribute tracking
