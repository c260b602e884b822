"""Reference GRU math and the autograder checks of the GRU course.

Layout (imports run downwards only):
    equations  the GRU in PyTorch's convention, written once
    mistakes   the wrong variants a teacher sees every term, each with its lesson
    tasks      what each exercise takes and returns, its random cases and its truth (torch.nn)
    diagnose   trusted: the messages that name the likely mistake and where it shows
    judge      trusted: makes cases, computes expected values, decides a verdict
    sandbox    runs the learner's function on the cases, in a child process, with a time limit
    check      what notebook test cells call: check_gru_cell, check_my_gru
    replay     re-runs a submitted notebook's code in a fresh process (for the grading guard)
    nbgrader_guard  an nbgrader preprocessor that re-checks every verdict outside the learner's kernel
    precheck   before grading: names the submissions nbgrader cannot read
"""
from gru_ref.equations import gru_cell, gru_sequence

__all__ = ["gru_cell", "gru_sequence", "check_gru_cell", "check_my_gru"]


def __getattr__(name):
    # The checkers import the sandbox machinery; load it only when a test cell asks for it.
    if name in ("check_gru_cell", "check_my_gru"):
        from gru_ref import check
        return getattr(check, name)
    raise AttributeError(name)
