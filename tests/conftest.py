import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def define(*sources):
    """Run answer-cell sources like a notebook would, in one namespace; return that namespace."""
    namespace = {"torch": torch, "nn": torch.nn}
    for source in sources:
        exec(compile(source, "<answer cell>", "exec"), namespace)
    return namespace

