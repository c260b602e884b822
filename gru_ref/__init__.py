"""Reference GRU math and the autograder checks of the GRU course, laid out by side:

    learner/      what test cells call and what runs beside the learner's code (check, the child
                  process's runner, the result format): the grading box and the learners' wheel are
                  built from this folder
    judge/        trusted: draws cases, computes the truth with torch.nn, rules, names the mistake;
                  never in the grading box
    assignments/  one module per assignment (gru, gru_bptt, rnn, gru_layers, shapes, train_gru): its tasks, cases,
                  known mistakes and messages; the registry of tasks; trusted, like the judge
    reference/    the instructors' side: the reference equations and the mistakes that are a whole
                  answer; in neither the box nor the wheel
    grading/      grading a class: the bubblewrap box, the judge of submissions outside it, nbgrader's steps
    grade         `python -m gru_ref.grade ASSIGNMENT`: grades a class
    precheck      `python -m gru_ref.precheck ASSIGNMENT`: names the submissions nbgrader cannot read
Imports run from the instructors' side towards the learner's: learner/ imports nothing of the others.
"""
__all__ = ["gru_cell", "gru_sequence", "check_gru_cell", "check_my_gru", "check_gru_cell_grad", "check_gru_bptt",
           "check_my_rnn", "check_my_gru_layers", "check_mlp_shapes", "check_conv2d_shapes", "check_rnn_shapes",
           "check_train_gru"]

# The modules of the flat layout this package had, by their new place: `from gru_ref import sandbox`
# keeps working where that module is present (in the box and the wheel, the learner's side only).
MOVED = {"check": "gru_ref.learner.check", "sandbox": "gru_ref.learner.sandbox", "results": "gru_ref.learner.results",
         "tensorfile": "gru_ref.learner.tensorfile", "text": "gru_ref.learner.text",
         "shape_answers": "gru_ref.learner.shape_answers", "diagnose": "gru_ref.judge.diagnose",
         "shape_tasks": "gru_ref.assignments.shapes.tasks",
         "shape_diagnose": "gru_ref.assignments.shapes.diagnose", "train_task": "gru_ref.assignments.train_gru",
         "equations": "gru_ref.reference.equations", "layers_mistakes": "gru_ref.assignments.gru_layers",
         "shape_mistakes": "gru_ref.reference.shapes_mistakes"}


def __getattr__(name):
    # Loaded on first use: the checkers bring the sandbox machinery, and neither the learners' wheel
    # nor the grading sandbox holds the reference equations (`from gru_ref import gru_sequence` fails).
    import importlib
    if name.startswith("check_"):
        from gru_ref.learner import check
        return getattr(check, name)
    if name in ("gru_cell", "gru_sequence"):
        try:
            from gru_ref.reference import equations
        except ImportError:
            raise ImportError(f"gru_ref.{name} is the course's reference GRU, which neither the learners' "
                              f"gru_ref nor the grading sandbox holds: write the equations yourself.") from None
        return getattr(equations, name)
    if name in MOVED:
        return importlib.import_module(MOVED[name])
    raise AttributeError(f"module 'gru_ref' has no attribute {name!r}")
