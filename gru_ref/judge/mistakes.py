"""A known mistake: its name, its lesson, and what it is made of, as data (the knobs of a wrong step or
layers, or the name of a wrong loop). Each assignment's own mistakes live in its module in
gru_ref.assignments.

When a learner's output misses the truth, the judge names the mistake the learner's output matches:
a diagnosis, not a guess. The code that computes a mistake is, knob for knob, a whole answer, so it
lives with the instructors (gru_ref.reference.mistakes), in neither the grading box nor the learners'
wheel: the grader (the whole package installed) runs each mistake for real on the learner's case;
the learners' checker compares the learner's outputs on a few fixed cases with the mistakes' outputs
there, a table made when the wheel is built (gru_ref.judge.mistake_table). gru_bptt's slips are the
exception: their knobs turn its own reverse loop (gru_ref.assignments.gru_bptt), which computes them by
autograd through torch's cell, so they are no answer to a part that refuses autograd.
"""
import importlib
import importlib.util
from dataclasses import dataclass, field

REFERENCE = "gru_ref.reference.mistakes"


@dataclass(frozen=True)
class Mistake:
    name: str
    lesson: str
    knobs: dict = field(default_factory=dict)  # the knobs turned in the wrong step, layers or reverse loop
    loop: str = None  # or the wrong loop over torch's own step, by name (gru_ref.reference.mistakes.loops)


def computed_here():
    """Whether the mistakes' code is installed here (the grader, the instructors), or only their table
    (the learners' wheel)."""
    try:
        return importlib.util.find_spec(REFERENCE) is not None
    except ImportError:  # no gru_ref.reference at all
        return False


def run(task, mistake, inputs, case):
    """The mistake's outputs on a case, computed for real by the instructors' code."""
    if not computed_here():
        raise LookupError("the learners' edition computes no mistake: it reads their outputs from a table")
    return importlib.import_module(REFERENCE).run(task, mistake, inputs, case)
