"""Many runs: studies and sweeps on Optuna, above the engine. ``space.py`` (what a study
varies), ``study.py`` (its settings and storage), ``trials.py`` (the worker loop: one
``engine.train`` per trial), ``runner.py`` (``zoo tune`` / ``zoo sweep``: workers, live table,
the best trial's test) and ``report.py`` (``zoo tune show``). The engine knows nothing of
studies beyond its per-epoch hook."""
