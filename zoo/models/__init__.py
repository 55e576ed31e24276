"""Models: the registry (``registry.py``), its generated index (``index.py``), shared layers
(``layers.py``) and one module per family. A new family is one new file plus its name in
``registry.FAMILIES``. Nothing here imports ``zoo.data``, ``zoo.runs`` or ``zoo.training``."""
