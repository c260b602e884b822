"""The wrong GRUs and RNNs a teacher sees every term, each computed for real and paired with its lesson.

When a learner's output misses `nn.GRU` (or `nn.RNN`), the judge runs every variant of that task here
on the same case and names the one the learner's output matches: a diagnosis, not a guess.
"""
from dataclasses import dataclass
from typing import Callable

import torch

from gru_ref.equations import gru_cell, gru_sequence, rnn_cell


def _cell(x, h, w_ih, w_hh, b_ih, b_hh, *, reset="after_matmul", swap_z=False, gate_order="rzn",
          input_bias=True, hidden_bias=True, swap_activations=False):
    """A GRU step with one knob per common mistake; the default knobs give PyTorch's GRU."""
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


# Sequence-level mistakes, the same for any recurrent step `cell` (gru_cell, rnn_cell).
def _state_not_carried(input, h0, w_ih, w_hh, b_ih, b_hh, cell=gru_cell):
    steps = [cell(input[:, t], h0, w_ih, w_hh, b_ih, b_hh) for t in range(input.shape[1])]
    return torch.stack(steps, dim=1), steps[-1]


def _initial_state_ignored(input, h0, w_ih, w_hh, b_ih, b_hh, cell=gru_cell):
    return gru_sequence(input, torch.zeros_like(h0), w_ih, w_hh, b_ih, b_hh, cell=cell)


def _h_final_first_step(input, h0, w_ih, w_hh, b_ih, b_hh, cell=gru_cell):
    output, _ = gru_sequence(input, h0, w_ih, w_hh, b_ih, b_hh, cell=cell)
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
        return gru_sequence(input, h0, w_ih, w_hh, b_ih, b_hh, cell=self.cell)


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


def _rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, *, input_bias=True, hidden_bias=True, squash=torch.tanh,
              transpose_w_hh=True):
    """A tanh RNN step with one knob per common mistake; the default knobs give nn.RNN's."""
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
            sequence=_with_cell(_state_not_carried, rnn_cell)),
    Mistake("rnn_initial_state_ignored",
            "initial_states is ignored (the loop starts from zeros). Start the loop from initial_states.",
            sequence=_with_cell(_initial_state_ignored, rnn_cell)),
    Mistake("rnn_h_final_first_step",
            "h_final is the state after the first step. Return the state after the last step, "
            "which equals output[:, -1].",
            sequence=_with_cell(_h_final_first_step, rnn_cell)),
)


def _layers(input, h0, weights, num_layers, bidirectional, batch_first, *, rereverse=True, reverse_reads=True,
            cat_order="forward_first", feed="below", h_n_order="layer_major", reverse_h_n="final"):
    """gru_layers with one knob per common mistake; the default knobs give nn.GRU's."""
    D = 2 if bidirectional else 1
    x = input if batch_first else input.transpose(0, 1)  # (B, T, F)
    rows, first = [None] * (num_layers * D), x
    for layer in range(num_layers):
        outputs = []
        for direction in range(D):
            k = layer * D + direction
            row = k if h_n_order == "layer_major" else direction * num_layers + layer
            steps = x.flip(1) if direction and reverse_reads else x
            output, h = gru_sequence(steps, h0[row], *weights[4 * k:4 * k + 4])
            if direction and reverse_h_n == "last_step":
                h = (output.flip(1) if rereverse and reverse_reads else output)[:, -1]
            outputs.append(output.flip(1) if direction and rereverse and reverse_reads else output)
            rows[row] = h
        if cat_order == "reverse_first":
            outputs.reverse()
        x = torch.cat(outputs, dim=-1)  # (B, T, D * H)
        if feed == "input":  # every layer reads the layer's own input, not the output below (shapes allowing)
            x = x if layer == num_layers - 1 else first
    return (x if batch_first else x.transpose(0, 1)), torch.stack(rows)


@dataclass(frozen=True)
class LayersMistake:
    name: str
    lesson: str
    knobs: dict

    def run_layers(self, *args):
        return _layers(*args, **self.knobs)


LAYERS_MISTAKES = (
    LayersMistake("reverse_not_rereversed",
                  "The reverse direction's outputs are in the order it computed them: output[:, t] holds "
                  "the state after it read x_{T-1} ... x_{T-1-t}. Flip them back in time (.flip(1)) before "
                  "putting them beside the forward ones: output[:, t] of the reverse direction is its state "
                  "after reading x_t (from the end).",
                  {"rereverse": False}),
    LayersMistake("reverse_reads_forward",
                  "The reverse direction reads the sequence from its start. It reads it from its end: run "
                  "it on input.flip(1) (time reversed), then flip its outputs back.",
                  {"reverse_reads": False}),
    LayersMistake("directions_concatenated_reverse_first",
                  "The directions are side by side in the wrong order: nn.GRU puts the forward direction "
                  "first, output[..., :H], and the reverse one after it, output[..., H:].",
                  {"cat_order": "reverse_first"}),
    LayersMistake("layers_fed_the_input",
                  "Every layer reads the sequence's input. Layer l > 0 reads the output of layer l - 1 "
                  "(both directions side by side, D * H wide), not the input.",
                  {"feed": "input"}),
    LayersMistake("h_n_direction_major",
                  "h0 and h_n are in the wrong order. nn.GRU's rows are layer by layer, and within a layer "
                  "forward then reverse: row layer * num_directions + direction.",
                  {"h_n_order": "direction_major"}),
    LayersMistake("reverse_h_n_at_last_step",
                  "h_n of the reverse direction is taken at the last time step, where it has read one "
                  "input only. Its final state is the one after reading the whole sequence, back to x_0: "
                  "output[:, 0, H:] of that layer, not output[:, -1, H:].",
                  {"reverse_h_n": "last_step"}),
)
