"""Runs: the run directory and its owner (``rundir.py``: lock, atomic files, status), the
resume state (``checkpoints.py``), the callbacks every run gets (``callbacks.py``), signal
handling (``interrupts.py``), progress display (``progress.py``), the runs table (``table.py``)
and plots (``plots.py``)."""
