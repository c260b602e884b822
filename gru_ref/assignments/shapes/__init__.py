"""The `shapes` assignment: the output shapes, parameter shapes and parameter counts of nn.Linear
stacks, nn.Conv2d and nn.RNN / nn.GRU, predicted with arithmetic on ints.
    tasks      its functions, random configurations and truth (the modules themselves)
    diagnose   the judge's ruling and messages: the wrong axis, parameter or term
Its known mistakes are its whole answer: they live in gru_ref.reference.shapes_mistakes. The learner's
side of an answer (its ints read into tensors) is gru_ref.learner.shape_answers.
"""
from gru_ref.assignments.shapes.tasks import TASKS  # noqa: F401 (the registry reads each assignment's TASKS)
