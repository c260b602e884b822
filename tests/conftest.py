import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def define(*sources):
    """Run answer-cell sources like a notebook would, in one namespace; return that namespace."""
    namespace = {"torch": torch, "nn": torch.nn}
    for source in sources:
        exec(compile(source, "<answer cell>", "exec"), namespace)
    return namespace


@pytest.fixture
def nbgrader_env():
    """nbgrader calls `alembic` and `jupyter` by name: the venv's bin must be on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env
