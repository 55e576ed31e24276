"""Several steps per tf.function call (--steps-per-execution): every epoch is whole executions,
so epochs end where their data ends and a resumed run sees the batches an uninterrupted one
sees."""

import pytest

from zoo.data import datasets, pipelines


@pytest.mark.parametrize(
    "examples,batch,asked,plan",
    [
        (45_000, 64, 1, (703, 1)),  # one step a call: nothing to fit
        (45_000, 64, 16, (703, 19)),  # 703 = 19 x 37: the nearest divisor within 2x
        (2_000, 64, 16, (31, 31)),  # a prime number of steps: the whole epoch, one call
        (100, 10, 50, (10, 10)),  # more asked than an epoch has
        (101 * 8, 8, 16, (96, 16)),  # 101 is prime and far from 16: 5 batches left out
        (48 * 64, 64, 16, (48, 16)),
    ],
)
def test_execution_plan(examples, batch, asked, plan):
    steps, per_execution = pipelines.execution_plan(examples, batch, asked)
    assert (steps, per_execution) == plan and steps % per_execution == 0


@pytest.mark.parametrize("examples,asked", [(45 * 8, 4), (101 * 8, 16)])
def test_epochs_end_where_their_data_ends(examples, asked):
    """Keras runs whole executions: the optimizer's step count at each epoch's end is a whole
    number of epochs, and each epoch's batches are that epoch's own (seeded) shuffle."""
    import keras
    import numpy as np
    import tensorflow as tf

    info = datasets.inspect("mnist", None)
    images = np.arange(examples, dtype=np.uint8).reshape(-1, 1, 1, 1) * np.ones(
        (1, 28, 28, 1), np.uint8
    )
    raw = tf.data.Dataset.from_tensor_slices((images, np.arange(examples) % 10))
    steps, per_execution = pipelines.execution_plan(examples, 8, asked)
    epochs = 3
    train = pipelines.make_pipeline(
        raw, info, batch_size=8, training=True, examples=examples, epochs=(0, epochs), steps=steps
    )
    seen = []

    class Probe(keras.layers.Layer):  # records the first pixel of every example it trains on
        def call(self, x, training=None):
            if training:
                tf.py_function(lambda v: seen.append(v.numpy().copy()), [x[:, 0, 0, 0]], [])
            return x

    inputs = keras.Input((28, 28, 1))
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(Probe()(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "categorical_crossentropy", steps_per_execution=per_execution)
    ends = []
    done = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: ends.append(int(model.optimizer.iterations))
    )
    model.fit(train, epochs=epochs, steps_per_epoch=steps, callbacks=[done], verbose=0)
    assert ends == [steps * (e + 1) for e in range(epochs)]
    trained = np.stack(seen).astype(int)  # pixel values: example numbers modulo 256
    alone = pipelines.make_pipeline(
        raw, info, batch_size=8, training=True, examples=examples, epochs=(1, epochs), steps=steps
    )
    second = np.stack([x.numpy()[:, 0, 0, 0] for x, _ in alone.take(steps)]).astype(int)
    np.testing.assert_array_equal(trained[steps : 2 * steps], second)  # what a resume sees
