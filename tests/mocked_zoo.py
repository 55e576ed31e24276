"""Run the zoo CLI in a fresh process on mocked TFDS (for kill/resume and multi-worker tests).

python tests/mocked_zoo.py EXAMPLES train mlp -d mnist ...
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tensorflow_datasets as tfds

from cli import main

if __name__ == "__main__":
    with tfds.testing.mock_data(num_examples=int(sys.argv[1])):
        main(sys.argv[2:], prog_name="zoo")
