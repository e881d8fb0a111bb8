"""adm.template_index.code_digest, the code part of the shipped templates' generator record: it changes with the code
and with nothing else, so moving code between modules or renaming a module does not call for new templates."""
from __future__ import annotations

from adm.template_index import code_digest

ONE = '''"""A module."""
from __future__ import annotations

import numpy as np

from .config import ModelConfig as Config

SCALE = 2.0


def double(x):
    """Twice x."""
    return np.asarray(x) * SCALE  # a comment


class Box:
    size = 3
'''

# The same code in two modules under other names, importing each other, with other comments and docstrings.
SPLIT_A = '''"""Doubling."""
import numpy as np

from adm.config import ModelConfig as Config
from .box import Box

SCALE = 2.0


def double(x):
    return np.asarray(x) * SCALE
'''
SPLIT_B = '''"""Boxes."""
from __future__ import annotations


class Box:
    """A box."""
    size = 3  # its size
'''


def test_moving_code_between_modules_keeps_the_digest():
    assert code_digest([ONE]) == code_digest([SPLIT_A, SPLIT_B]) == code_digest([SPLIT_B, SPLIT_A])


def test_every_change_of_code_changes_the_digest():
    base = code_digest([ONE])
    changed = [
        ONE.replace("SCALE = 2.0", "SCALE = 2.5"),                      # a constant
        ONE.replace("* SCALE", "+ SCALE"),                              # an operator
        ONE.replace("    size = 3\n", "    size = 3\n    depth = 1\n"),  # a new class attribute
        ONE.replace("import numpy as np", "import numpy as np\nimport torch"),  # a new import
        ONE + "\n\ndef half(x):\n    return x / 2\n",                   # a new function
    ]
    digests = [code_digest([text]) for text in changed]
    assert base not in digests and len(set(digests)) == len(digests)
    # a definition that appears twice is not the same code as one that appears once
    assert code_digest([ONE, "def f():\n    return 1\n"]) != code_digest([ONE, "def f():\n    return 1\n" * 2])
