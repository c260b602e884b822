"""A known mistake (its name, its lesson and the wrong computation, run for real) and the wrong loops
that any recurrent step can be put in. Each assignment's own mistakes live in its module in
gru_ref.assignments.

When a learner's output misses the truth, the judge runs every mistake of that task on the same case
and names the one the learner's output matches: a diagnosis, not a guess. The sequence-level
mistakes wrap torch's own cells (the judge's truth) in a wrong loop; `_unroll`, the loop they share,
is itself a right batch-first loop. This module ships in the learners' wheel, so a learner can import
it, but not into the grading box (INSIDE in gru_ref.grading.bwrap): nothing imported from here runs,
or earns credit, when a notebook is graded.
"""
from dataclasses import dataclass
from typing import Callable

import torch


def _unroll(cell, input, h0, w_ih, w_hh, b_ih, b_hh):
    """A batch-first loop of `cell` over time: (output (B, T, H), h_final (B, H))."""
    h, states = h0, []
    for t in range(input.shape[1]):
        h = cell(input[:, t], h, w_ih, w_hh, b_ih, b_hh)
        states.append(h)
    return torch.stack(states, dim=1), h


# Sequence-level mistakes, the same for any recurrent step `cell` (torch's GRU or tanh RNN cell).
def _state_not_carried(input, h0, w_ih, w_hh, b_ih, b_hh, cell=torch.gru_cell):
    steps = [cell(input[:, t], h0, w_ih, w_hh, b_ih, b_hh) for t in range(input.shape[1])]
    return torch.stack(steps, dim=1), steps[-1]


def _initial_state_ignored(input, h0, w_ih, w_hh, b_ih, b_hh, cell=torch.gru_cell):
    return _unroll(cell, input, torch.zeros_like(h0), w_ih, w_hh, b_ih, b_hh)


def _h_final_first_step(input, h0, w_ih, w_hh, b_ih, b_hh, cell=torch.gru_cell):
    output, _ = _unroll(cell, input, h0, w_ih, w_hh, b_ih, b_hh)
    return output, output[:, 0]


def _with_cell(sequence, cell):
    return lambda *args: sequence(*args, cell=cell)


@dataclass(frozen=True)
class Mistake:
    name: str
    lesson: str
    cell: Callable = None  # a wrong step, for step-level mistakes
    sequence: Callable = None  # a wrong loop over a correct step, for sequence-level mistakes

    def run_cell(self, x, h, w_ih, w_hh, b_ih, b_hh):
        return self.cell(x, h, w_ih, w_hh, b_ih, b_hh)

    def run_sequence(self, input, h0, w_ih, w_hh, b_ih, b_hh):
        if self.sequence is not None:
            return self.sequence(input, h0, w_ih, w_hh, b_ih, b_hh)
        return _unroll(self.cell, input, h0, w_ih, w_hh, b_ih, b_hh)
