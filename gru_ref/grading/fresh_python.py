"""The command line of a fresh, isolated Python (`-I`: no PYTHONPATH, no current folder on sys.path)
that runs one of gru_ref's modules from this very gru_ref, wherever it is installed: an editable
install of another folder, site-packages, a `pip install --target` folder, or the course's copy that
nbgrader put on sys.path. `-I -m gru_ref...` alone would find whichever gru_ref the interpreter's own
site-packages hold, or none ("No module named 'gru_ref'" in every notebook).

Used for the box's template (inside bubblewrap, where bwrap.command shows the package at the same path)
and the integrity scan's child."""
import os
import sys

import gru_ref

PACKAGE_DIR = os.path.dirname(os.path.abspath(gru_ref.__file__))
PACKAGE_PARENT = os.path.dirname(PACKAGE_DIR)


def boot(code):
    """Python source that puts this gru_ref first on sys.path, then runs code."""
    return f"import sys; sys.path.insert(0, {PACKAGE_PARENT!r}); {code}"


def module_argv(module, *args):
    """argv that runs `python -I -m module args...` with this gru_ref first on sys.path."""
    run = f"import runpy; runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
    return [sys.executable, "-I", "-c", boot(run), *args]
