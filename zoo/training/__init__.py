"""Training: optimizers and schedules (``optimizers.py``), recipes (``recipes.py``),
distribution, precision and XLA (``distribute.py``), fine-tuning sources: zoo runs
(``finetune.py``) and KerasHub presets (``presets.py``), and evaluation (``evaluation.py``)."""
