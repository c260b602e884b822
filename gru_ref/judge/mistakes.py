"""The wrong GRUs and RNNs a teacher sees every term, each computed for real and paired with its lesson.

When a learner's output misses `nn.GRU` (or `nn.RNN`), the judge runs every variant of that task here
on the same case and names the one the learner's output matches: a diagnosis, not a guess.

This module ships to learners with the checker, so it holds no importable right answer: a step here
runs only with at least one knob turned to a mistake, and the sequence-level mistakes wrap torch's
own cells (the judge's truth) in a wrong loop.
"""
from dataclasses import dataclass
from typing import Callable

import torch

RIGHT_KNOBS = {"reset": "after_matmul", "swap_z": False, "gate_order": "rzn", "input_bias": True,
               "hidden_bias": True, "swap_activations": False}


def _cell(x, h, w_ih, w_hh, b_ih, b_hh, **knobs):
    """A GRU step with one knob per common mistake: at least one must be turned (see RIGHT_KNOBS)."""
    knobs = {**RIGHT_KNOBS, **knobs}
    if knobs == RIGHT_KNOBS:
        raise ValueError("a mistake needs at least one knob turned away from PyTorch's GRU")
    return _step(x, h, w_ih, w_hh, b_ih, b_hh, **knobs)


def _step(x, h, w_ih, w_hh, b_ih, b_hh, *, reset, swap_z, gate_order, input_bias, hidden_bias,
          swap_activations):
    gi = x @ w_ih.T + (b_ih if input_bias else 0)  # (B, 3H)
    b_hh = b_hh if hidden_bias else torch.zeros_like(b_hh)
    # Read the stacked blocks in `gate_order`: "rzn" is right, anything else is the mistake.
    i = dict(zip(gate_order, gi.chunk(3, dim=-1)))  # each (B, H)
    w = dict(zip(gate_order, w_hh.chunk(3, dim=0)))  # each (H, H)
    b = dict(zip(gate_order, b_hh.chunk(3)))  # each (H,)
    gate, squash = (torch.tanh, torch.sigmoid) if swap_activations else (torch.sigmoid, torch.tanh)
    r = gate(i["r"] + h @ w["r"].T + b["r"])
    z = gate(i["z"] + h @ w["z"].T + b["z"])
    if reset == "after_matmul":
        n = squash(i["n"] + r * (h @ w["n"].T + b["n"]))
    elif reset == "before_matmul":
        n = squash(i["n"] + (r * h) @ w["n"].T + b["n"])
    elif reset == "without_bias":
        n = squash(i["n"] + r * (h @ w["n"].T) + b["n"])
    else:  # "missing"
        n = squash(i["n"] + h @ w["n"].T + b["n"])
    return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h


def _cell_variant(**knobs):
    return lambda x, h, w_ih, w_hh, b_ih, b_hh: _cell(x, h, w_ih, w_hh, b_ih, b_hh, **knobs)


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


MISTAKES = (
    Mistake("reset_gate_missing",
            "The candidate is computed without the reset gate. PyTorch computes "
            "n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); multiply the hidden projection by r. "
            "(This is the bug of the blog post this course grew from.)",
            cell=_cell_variant(reset="missing")),
    Mistake("reset_before_matmul",
            "The reset gate is applied to h before the matmul, W_hn (r * h), as Cho et al. (2014) and "
            "d2l write it. PyTorch applies it after: r * (W_hn h + b_hn).",
            cell=_cell_variant(reset="before_matmul")),
    Mistake("reset_gate_skips_b_hn",
            "b_hn is added outside the reset gate. In PyTorch it is inside: r * (W_hn h + b_hn).",
            cell=_cell_variant(reset="without_bias")),
    Mistake("z_swapped",
            "z and 1 - z are swapped. PyTorch keeps the old state with z: h = (1 - z) * n + z * h_prev.",
            cell=_cell_variant(swap_z=True)),
    Mistake("r_z_order_swapped",
            "The r and z rows of the weights are swapped. The gates are stacked in r, z, n order: "
            "w_ih[:H] is W_ir, w_ih[H:2H] is W_iz, w_ih[2H:] is W_in (same for w_hh, b_ih, b_hh).",
            cell=_cell_variant(gate_order="zrn")),
    Mistake("gate_order_nzr",
            "The gate blocks are read in the wrong order. They are stacked r, z, n: use "
            "gi.chunk(3, dim=-1) -> (i_r, i_z, i_n).",
            cell=_cell_variant(gate_order="nzr")),
    Mistake("hidden_bias_missing",
            "b_hh is not used. PyTorch's GRU has two biases per gate: add b_hh to the hidden projection.",
            cell=_cell_variant(hidden_bias=False)),
    Mistake("input_bias_missing",
            "b_ih is not used. PyTorch's GRU has two biases per gate: add b_ih to the input projection.",
            cell=_cell_variant(input_bias=False)),
    Mistake("activations_swapped",
            "sigmoid and tanh are swapped. The gates r and z use sigmoid (values in 0..1); the "
            "candidate n uses tanh.",
            cell=_cell_variant(swap_activations=True)),
    Mistake("state_not_carried",
            "Every step starts from initial_states. Carry the state: the h computed at step t is the "
            "h_prev of step t + 1.",
            sequence=_state_not_carried),
    Mistake("initial_state_ignored",
            "initial_states is ignored (the loop starts from zeros). Start the loop from initial_states.",
            sequence=_initial_state_ignored),
    Mistake("h_final_first_step",
            "h_final is the state after the first step. Return the state after the last step, "
            "which equals output[:, -1].",
            sequence=_h_final_first_step),
)

CELL_MISTAKES = tuple(m for m in MISTAKES if m.cell is not None)


RIGHT_RNN_KNOBS = {"input_bias": True, "hidden_bias": True, "squash": torch.tanh, "transpose_w_hh": True}


def _rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, **knobs):
    """A tanh RNN step with one knob per common mistake: at least one must be turned."""
    knobs = {**RIGHT_RNN_KNOBS, **knobs}
    if knobs == RIGHT_RNN_KNOBS:
        raise ValueError("a mistake needs at least one knob turned away from nn.RNN")
    return _rnn_wrong_step(x, h, w_ih, w_hh, b_ih, b_hh, **knobs)


def _rnn_wrong_step(x, h, w_ih, w_hh, b_ih, b_hh, *, input_bias, hidden_bias, squash, transpose_w_hh):
    hidden = h @ (w_hh.T if transpose_w_hh else w_hh)
    return squash(x @ w_ih.T + (b_ih if input_bias else 0) + hidden + (b_hh if hidden_bias else 0))


def _rnn_variant(**knobs):
    return lambda x, h, w_ih, w_hh, b_ih, b_hh: _rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, **knobs)


RNN_MISTAKES = (
    Mistake("rnn_biases_missing",
            "Neither bias is used. nn.RNN adds both: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh).",
            cell=_rnn_variant(input_bias=False, hidden_bias=False)),
    Mistake("rnn_input_bias_missing",
            "b_ih is not used. nn.RNN has two biases: add b_ih to the input projection x_t W_ih^T.",
            cell=_rnn_variant(input_bias=False)),
    Mistake("rnn_hidden_bias_missing",
            "b_hh is not used. nn.RNN has two biases: add b_hh to the hidden projection h_{t-1} W_hh^T.",
            cell=_rnn_variant(hidden_bias=False)),
    Mistake("rnn_relu",
            "The step uses ReLU where nn.RNN's default nonlinearity is tanh: h_t = tanh(...), "
            "torch.tanh, not torch.relu.",
            cell=_rnn_variant(squash=torch.relu)),
    Mistake("rnn_no_nonlinearity",
            "The step has no nonlinearity: wrap the sum in torch.tanh(...).",
            cell=_rnn_variant(squash=lambda v: v)),
    Mistake("rnn_w_hh_not_transposed",
            "w_hh is used without its transpose: h_{t-1} @ w_hh instead of h_{t-1} @ w_hh.T. Both are "
            "(H, H), so the shapes fit, but nn.RNN stores the weight as (out, in): multiply by w_hh.T.",
            cell=_rnn_variant(transpose_w_hh=False)),
    Mistake("rnn_state_not_carried",
            "Every step starts from initial_states. Carry the state: the h computed at step t is the "
            "h_prev of step t + 1.",
            sequence=_with_cell(_state_not_carried, torch.rnn_tanh_cell)),
    Mistake("rnn_initial_state_ignored",
            "initial_states is ignored (the loop starts from zeros). Start the loop from initial_states.",
            sequence=_with_cell(_initial_state_ignored, torch.rnn_tanh_cell)),
    Mistake("rnn_h_final_first_step",
            "h_final is the state after the first step. Return the state after the last step, "
            "which equals output[:, -1].",
            sequence=_with_cell(_h_final_first_step, torch.rnn_tanh_cell)),
)


RIGHT_GRAD_KNOBS = {"direct": True, "through_r": True, "through_z": True, "tanh_slope": True,
                    "sigmoid_slope": True, "z_sign": 1}


def _cell_grad(x, h, w_ih, w_hh, b_ih, b_hh, grad_h_t, **knobs):
    """dL/dh_prev of one step, given dL/dh_t, by the chain rule with at least one slip (knob) in it."""
    knobs = {**RIGHT_GRAD_KNOBS, **knobs}
    if knobs == RIGHT_GRAD_KNOBS:
        raise ValueError("a mistake needs at least one knob turned away from the right gradient")
    return _step_grad(x, h, w_ih, w_hh, b_ih, b_hh, grad_h_t, **knobs)


def _step_grad(x, h, w_ih, w_hh, b_ih, b_hh, grad_h_t, *, direct, through_r, through_z, tanh_slope,
               sigmoid_slope, z_sign):
    gi = x @ w_ih.T + b_ih  # (B, 3H)
    gh = h @ w_hh.T + b_hh  # (B, 3H)
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    d_n = grad_h_t * (1 - z)
    d_z = z_sign * grad_h_t * (h - n) if through_z else torch.zeros_like(z)
    d_n_pre = d_n * (1 - n * n) if tanh_slope else d_n
    d_r = d_n_pre * h_n if through_r else torch.zeros_like(r)
    d_r_pre = d_r * r * (1 - r) if sigmoid_slope else d_r
    d_z_pre = d_z * z * (1 - z) if sigmoid_slope else d_z
    d_gh = torch.cat([d_r_pre, d_z_pre, d_n_pre * r], dim=-1)  # (B, 3H): back through the hidden projections
    return (grad_h_t * z if direct else 0) + d_gh @ w_hh  # (B, H)


def _grad_variant(**knobs):
    return lambda *args: _cell_grad(*args, **knobs)


GRAD_MISTAKES = (
    Mistake("direct_path_missing",
            "The direct path is missing: h_t = (1 - z) * n + z * h uses h itself, so grad_h_t * z is part "
            "of dL/dh_prev before anything flows back through the gates.",
            cell=_grad_variant(direct=False)),
    Mistake("reset_path_missing",
            "Nothing flows back through the reset gate: r depends on h, and n depends on r through "
            "r * (W_hn h + b_hn), so dL/dr = dL/d(pre-tanh of n) * (W_hn h + b_hn).",
            cell=_grad_variant(through_r=False)),
    Mistake("update_path_missing",
            "Nothing flows back through the update gate: z depends on h, and dh_t/dz = h - n.",
            cell=_grad_variant(through_z=False)),
    Mistake("tanh_slope_missing",
            "The tanh's slope is missing: d tanh(a)/da = 1 - tanh(a)^2 = 1 - n * n.",
            cell=_grad_variant(tanh_slope=False)),
    Mistake("sigmoid_slope_missing",
            "The sigmoids' slope is missing: d sigmoid(a)/da = sigmoid(a) * (1 - sigmoid(a)), r * (1 - r) "
            "for the reset gate and z * (1 - z) for the update gate.",
            cell=_grad_variant(sigmoid_slope=False)),
    Mistake("update_sign_flipped",
            "The update gate's term has the wrong sign: h_t = (1 - z) * n + z * h, so dh_t/dz = h - n, "
            "not n - h.",
            cell=_grad_variant(z_sign=-1)),
)
