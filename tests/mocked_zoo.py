"""Run the zoo CLI in a fresh process on mocked TFDS (for kill/resume and multi-worker tests).

python tests/mocked_zoo.py EXAMPLES train mlp -d mnist ...

ZOO_TEST_FAULT=kill_in_evaluate makes the process SIGKILL itself when the finished run's test
evaluation starts (model.keras written, metrics.json not yet): a kill at the worst moment of
the finish, without timing races.
"""

import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tensorflow_datasets as tfds

from cli import main


def _inject(fault: str) -> None:
    if fault == "kill_in_evaluate":
        from zoo.tasks import classification

        def evaluate(self, *args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)

        classification.Classification.evaluate = evaluate
    elif fault:
        raise SystemExit(f"unknown ZOO_TEST_FAULT {fault!r}")


if __name__ == "__main__":
    _inject(os.environ.get("ZOO_TEST_FAULT", ""))
    # `zoo tune --workers K` starts its workers through this launcher too, on the same mock.
    os.environ.setdefault("ZOO_LAUNCHER", json.dumps([sys.executable, __file__, sys.argv[1]]))
    with tfds.testing.mock_data(num_examples=int(sys.argv[1])):
        main(sys.argv[2:], prog_name="zoo")
