"""One module (or folder) per assignment, each holding its tasks (arguments, cases, truth from
torch.nn), its known mistakes with their lessons, and the words of its messages:
    gru          gru_cell, my_gru, gru_cell_grad
    gru_bptt     gru_bptt (backpropagation through time by hand)
    rnn          my_rnn
    gru_layers   my_gru_layers
    shapes       mlp_shapes, conv2d_shapes, rnn_shapes
    train_gru    train_and_predict
Trusted, the judge's side: the grading box never shows this folder. The learners' wheel ships it, for
their own checker's judge; it holds no answer: a known mistake here is its name, lesson and knobs,
and the code that computes it, a whole answer, is kept in gru_ref.reference.

The registry: every module here is an assignment, and TASKS maps each task's name (what a check_*
function of gru_ref.learner.registry names) to its task. A new assignment is a new module here with a
TASKS tuple, and its line in gru_ref.learner.registry.CHECKS.
"""
import importlib
import pkgutil

ASSIGNMENTS = tuple(sorted(info.name for info in pkgutil.iter_modules(__path__)))
TASKS = {task.name: task for assignment in ASSIGNMENTS
         for task in importlib.import_module(f"{__name__}.{assignment}").TASKS}
