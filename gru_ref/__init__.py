"""Reference GRU math and the autograder checks of the GRU course.

Layout (imports run downwards only):
    equations  the GRU in PyTorch's convention, written once
    mistakes   the wrong variants a teacher sees every term, each with its lesson
    tasks      what each exercise takes and returns, its random cases and its truth (torch.nn)
    shape_tasks  the shapes assignment's: plain ints in and out, random configurations, the truth from
               the modules themselves (registered in tasks); shape_mistakes: its known mistakes
    train_task  train_gru's task: chapter 7's sequences, relabelled; held-out accuracy of a retrain
    diagnose   trusted: the messages that name the likely mistake and where it shows
    shape_diagnose  trusted: the shapes assignment's: the wrong axis, parameter or term
    judge      trusted: makes cases, computes expected values, decides a verdict
    sandbox    runs the learner's function on the cases, in a child process, with a time limit
    shape_answers  the learner's side of a shapes answer: its ints as int64 tensors, read without running it
    assignments  which check_* function checks which task (plain data, no torch)
    check      what notebook test cells call: check_gru_cell, check_my_gru, check_my_rnn, ...
    results, tensorfile  what crosses from the learner's side to the judge: tensors and checked text
    grading    grading a class: the sandbox, the trusted judge of submissions, nbgrader's steps
    precheck   before grading: names the submissions nbgrader cannot read
"""
__all__ = ["gru_cell", "gru_sequence", "check_gru_cell", "check_my_gru", "check_gru_cell_grad", "check_my_rnn",
           "check_my_gru_layers", "check_mlp_shapes", "check_conv2d_shapes", "check_rnn_shapes",
           "check_train_gru"]


def __getattr__(name):
    # Loaded on first use: the checkers bring the sandbox machinery, and neither the learners' wheel
    # nor the grading sandbox holds the reference equations (`from gru_ref import gru_sequence` fails).
    if name.startswith("check_"):
        from gru_ref import check
        return getattr(check, name)
    if name in ("gru_cell", "gru_sequence"):
        try:
            from gru_ref import equations
        except ImportError:
            raise ImportError(f"gru_ref.{name} is the course's reference GRU, which neither the learners' "
                              f"gru_ref nor the grading sandbox holds: write the equations yourself.") from None
        return getattr(equations, name)
    raise AttributeError(f"module 'gru_ref' has no attribute {name!r}")
