"""zoo: a TensorFlow/Keras 3 model zoo.

Importing ``zoo`` is cheap: TensorFlow is only imported by the modules that need it
(``zoo.api``, ``zoo.data``, ``zoo.models``...), so the command line starts fast.

    >>> from zoo import api
    >>> run_dir = api.train(api.resolve_train_config("cnn", "mnist", {"epochs": 1}))
"""

__version__ = "0.1.0"
