"""Data: TFDS metadata and splits (``datasets.py``), tf.data pipelines (``pipelines.py``),
preprocessing shared by training and serving (``preprocess.py``), what each modality needs
(``modalities.py``) and the dataset catalog (``catalog.py``)."""
