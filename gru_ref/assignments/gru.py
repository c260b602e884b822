"""The `gru` assignment: gru_cell (one step), my_gru (the sequence) and gru_cell_grad (one step's
gradient by hand), each checked against torch.nn; the wrong GRUs a teacher sees every term, each with
its lesson and its knobs (what is wrong, as data); and the words of its messages.

This module ships to learners in the checker's wheel, not into the grading box (INSIDE in
gru_ref.grading.bwrap). It holds no callable right answer, nor a wrong one a deleted line would make
right: the code that computes a mistake is the instructors' (gru_ref.reference.mistakes), and the
learners' checker names a mistake from its outputs on fixed cases (gru_ref.judge.mistake_table). Its
only GRU is torch's own nn.GRU, the truth, which every check switches off while the learner's
function runs.
"""
import torch
from torch import nn

from gru_ref.judge.cases import WEIGHT_NAMES, Case, module_weights
from gru_ref.judge import mistakes as mistake_code
from gru_ref.judge.mistakes import Mistake

MISTAKES = (
    Mistake("reset_gate_missing",
            "The candidate is computed without the reset gate. PyTorch computes "
            "n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); multiply the hidden projection by r. "
            "(This is the bug of the blog post this course grew from.)",
            knobs={"reset": "missing"}),
    Mistake("reset_before_matmul",
            "The reset gate is applied to h before the matmul, W_hn (r * h), as Cho et al. (2014) and "
            "d2l write it. PyTorch applies it after: r * (W_hn h + b_hn).",
            knobs={"reset": "before_matmul"}),
    Mistake("reset_gate_skips_b_hn",
            "b_hn is added outside the reset gate. In PyTorch it is inside: r * (W_hn h + b_hn).",
            knobs={"reset": "without_bias"}),
    Mistake("z_swapped",
            "z and 1 - z are swapped. PyTorch keeps the old state with z: h = (1 - z) * n + z * h_prev.",
            knobs={"swap_z": True}),
    Mistake("r_z_order_swapped",
            "The r and z rows of the weights are swapped. The gates are stacked in r, z, n order: "
            "w_ih[:H] is W_ir, w_ih[H:2H] is W_iz, w_ih[2H:] is W_in (same for w_hh, b_ih, b_hh).",
            knobs={"gate_order": "zrn"}),
    Mistake("gate_order_nzr",
            "The gate blocks are read in the wrong order. They are stacked r, z, n: use "
            "gi.chunk(3, dim=-1) -> (i_r, i_z, i_n).",
            knobs={"gate_order": "nzr"}),
    Mistake("hidden_bias_missing",
            "b_hh is not used. PyTorch's GRU has two biases per gate: add b_hh to the hidden projection.",
            knobs={"hidden_bias": False}),
    Mistake("input_bias_missing",
            "b_ih is not used. PyTorch's GRU has two biases per gate: add b_ih to the input projection.",
            knobs={"input_bias": False}),
    Mistake("activations_swapped",
            "sigmoid and tanh are swapped. The gates r and z use sigmoid (values in 0..1); the "
            "candidate n uses tanh.",
            knobs={"swap_activations": True}),
    Mistake("state_not_carried",
            "Every step starts from initial_states. Carry the state: the h computed at step t is the "
            "h_prev of step t + 1.",
            loop="state_not_carried"),
    Mistake("initial_state_ignored",
            "initial_states is ignored (the loop starts from zeros). Start the loop from initial_states.",
            loop="initial_state_ignored"),
    Mistake("h_final_first_step",
            "h_final is the state after the first step. Return the state after the last step, "
            "which equals output[:, -1].",
            loop="h_final_first_step"),
)

CELL_MISTAKES = tuple(m for m in MISTAKES if m.loop is None)


GRAD_MISTAKES = (
    Mistake("direct_path_missing",
            "The direct path is missing: h_t = (1 - z) * n + z * h uses h itself, so grad_h_t * z is part "
            "of dL/dh_prev before anything flows back through the gates.",
            knobs={"direct": False}),
    Mistake("reset_path_missing",
            "Nothing flows back through the reset gate: r depends on h, and n depends on r through "
            "r * (W_hn h + b_hn), so dL/dr = dL/d(pre-tanh of n) * (W_hn h + b_hn).",
            knobs={"through_r": False}),
    Mistake("update_path_missing",
            "Nothing flows back through the update gate: z depends on h, and dh_t/dz = h - n.",
            knobs={"through_z": False}),
    Mistake("tanh_slope_missing",
            "The tanh's slope is missing: d tanh(a)/da = 1 - tanh(a)^2 = 1 - n * n.",
            knobs={"tanh_slope": False}),
    Mistake("sigmoid_slope_missing",
            "The sigmoids' slope is missing: d sigmoid(a)/da = sigmoid(a) * (1 - sigmoid(a)), r * (1 - r) "
            "for the reset gate and z * (1 - z) for the update gate.",
            knobs={"sigmoid_slope": False}),
    Mistake("update_sign_flipped",
            "The update gate's term has the wrong sign: h_t = (1 - z) * n + z * h, so dh_t/dz = h - n, "
            "not n - h.",
            knobs={"z_sign": -1}),
)


class SequenceTask:
    """my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh) -> (output, h_final).

    A task is data: its arguments and outputs, the torch.nn module that gives the truth, the mistakes
    its diagnostics know, and the words its messages use. A new recurrent task changes these."""
    name = "my_gru"
    arg_names = ("input", "initial_states") + WEIGHT_NAMES
    output_names = ("output", "h_final")
    output_letters = {"output": "(B, T, H)", "h_final": "(B, H)"}
    returns = "a tuple (output, h_final)"
    has_time = True  # input has a time axis T
    by_hand = False  # whether autograd inside the answer is refused
    mistakes = MISTAKES
    module = nn.GRU  # the truth, given the same weights
    module_name = "GRU"  # as messages name it: torch.nn.GRU
    blocks = 3  # weight rows per hidden unit: the r, z, n gates
    builtins = "nn.GRU, nn.GRUCell, torch.gru, torch._VF"  # the shortcuts that earn no credit
    write_with = "matmuls, torch.sigmoid and torch.tanh"
    layout_hint = ("w_ih is (3H, F) and w_hh is (3H, H), so the projections are x @ w_ih.T (B, 3H) and "
                   "h @ w_hh.T (B, 3H); input is (B, T, F), so time step t is input[:, t].")
    equations_hint = ("Check each equation against PyTorch's convention: r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), "
                      "z = sigmoid(W_iz x + b_iz + W_hz h + b_hz), n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), "
                      "h' = (1 - z) * n + z * h, with the gate blocks stacked r, z, n.")

    def shapes(self, c):
        G = self.blocks * c.H
        return {"input": (c.B, c.T, c.F), "initial_states": (c.B, c.H), "w_ih": (G, c.F),
                "w_hh": (G, c.H), "b_ih": (G,), "b_hh": (G,)}

    def output_shapes(self, c):
        return {"output": (c.B, c.T, c.H), "h_final": (c.B, c.H)}

    def make_module(self, c, inputs):
        module = self.module(c.F, c.H, batch_first=True, dtype=inputs["input"].dtype)
        self.load(module, c, inputs)
        return module

    # Hooks a task with another calling convention overrides (see LayersTask).
    def arg_names_for(self, c):
        return self.arg_names

    def call_spec(self, c):
        """How the sandbox calls the function: None, every tensor as a positional argument; or
        {"list_from": k, "extra": [...]}: tensors k.. as one list, then the extra plain arguments."""
        return None

    def letters(self, c):
        return self.output_letters

    def time_dim(self, c):
        return 1

    def describe_layout(self, c):
        return ""

    def module_weights(self, module):
        return module_weights(module)

    def load(self, module, c, inputs):
        with torch.no_grad():
            for param, name in zip(self.module_weights(module), self.arg_names_for(c)[2:]):
                param.copy_(inputs[name])

    def call_module(self, module, inputs):
        output, h_n = module(inputs["input"], inputs["initial_states"].unsqueeze(0))
        return output, h_n.squeeze(0)  # h_n is (num_layers=1, B, H)

    # The mistakes' code is the instructors' (gru_ref.reference.mistakes); the learners' checker reads
    # their outputs on these fixed cases from a table (gru_ref.judge.mistake_table), where every mistake shows.
    mistakes_in_reference = True
    diagnosis_cases = (Case(3, 4, 4, 5),)

    def run_mistake(self, mistake, inputs, c):
        """The mistake's outputs on this case, computed for real (the grader, the instructors)."""
        return mistake_code.run(self, mistake, inputs, c)

    @property
    def truth(self):
        """What the answer is compared with, as messages name it."""
        return f"torch.nn.{self.module_name}"

    def expected(self, case, inputs):
        """The truth, from torch.nn in float64: the same weights, the same inputs."""
        as64 = {k: v.double() for k, v in inputs.items()}
        with torch.no_grad():
            return self.call_module(self.make_module(case, as64), as64)

    parts = {
        # One meta case in the visible contract: a function that reads values (an isfinite check on its
        # inputs) learns it there, not from the hidden devices part.
        "contract": (Case(2, 3, 4, 5, "float32", values=False), Case(1, 2, 3, 2, values=False),
                     Case(1, 2, 3, 2, device="meta", values=False)),
        "quick": (Case(2, 3, 4, 5), Case(1, 1, 3, 2, "float32")),
        "values": (Case(1, 1, 3, 2), Case(1, 6, 2, 3), Case(4, 1, 3, 5), Case(3, 5, 4, 2),
                   Case(2, 7, 5, 5), Case(5, 3, 1, 4), Case(2, 4, 6, 3, "float32"),
                   Case(1, 1, 2, 4, "float32"), Case(3, 8, 3, 6, "float32")),
        "gradients": (Case(2, 4, 3, 5, grad=True), Case(1, 1, 2, 3, grad=True),
                      Case(3, 3, 4, 2, "float32", grad=True)),
        "devices": (Case(2, 3, 4, 5, "float32", device="meta"), Case(1, 2, 3, 2, device="meta")),
        "cuda": (Case(2, 5, 4, 3, "float32", device="cuda"), Case(3, 4, 2, 5, device="cuda"),
                 Case(2, 3, 4, 5, "float32", device="cuda", grad=True)),
    }


class CellTask(SequenceTask):
    """gru_cell(x_t, h_prev, w_ih, w_hh, b_ih, b_hh) -> h_t: one time step."""
    name = "gru_cell"
    arg_names = ("x_t", "h_prev") + WEIGHT_NAMES
    output_names = ("h_t",)
    output_letters = {"h_t": "(B, H)"}
    returns = "one tensor h_t"
    has_time = False
    mistakes = CELL_MISTAKES
    module = nn.GRUCell
    module_name = "GRUCell"

    def shapes(self, c):
        return {"x_t": (c.B, c.F), "h_prev": (c.B, c.H), "w_ih": (3 * c.H, c.F),
                "w_hh": (3 * c.H, c.H), "b_ih": (3 * c.H,), "b_hh": (3 * c.H,)}

    def output_shapes(self, c):
        return {"h_t": (c.B, c.H)}

    def make_module(self, c, inputs):
        cell = self.module(c.F, c.H, dtype=inputs["x_t"].dtype)
        self.load(cell, c, inputs)
        return cell

    def call_module(self, module, inputs):
        return (module(inputs["x_t"], inputs["h_prev"]),)

    diagnosis_cases = (Case(3, 1, 4, 5),)

    parts = {
        "contract": (Case(2, 1, 4, 5, "float32", values=False), Case(1, 1, 3, 2, values=False),
                     Case(1, 1, 3, 2, device="meta", values=False)),
        "quick": (Case(2, 1, 4, 5), Case(1, 1, 3, 2, "float32")),
        "values": (Case(1, 1, 3, 2), Case(4, 1, 3, 5), Case(3, 1, 4, 2), Case(2, 1, 5, 5),
                   Case(5, 1, 1, 4), Case(2, 1, 6, 3, "float32"), Case(3, 1, 3, 6, "float32")),
        "gradients": (Case(2, 1, 3, 5, grad=True), Case(3, 1, 4, 2, "float32", grad=True)),
        "devices": (Case(2, 1, 4, 5, "float32", device="meta"),),
        "cuda": (Case(2, 1, 4, 3, "float32", device="cuda"), Case(3, 1, 2, 5, device="cuda", grad=True)),
    }


class CellGradTask(CellTask):
    """gru_cell_grad(x_t, h_prev, w_ih, w_hh, b_ih, b_hh, grad_h_t) -> grad_h_prev: the gradient of a
    loss with respect to the state before one step, given its gradient after it, by the chain rule."""
    name = "gru_cell_grad"
    arg_names = ("x_t", "h_prev") + WEIGHT_NAMES + ("grad_h_t",)
    output_names = ("grad_h_prev",)
    output_letters = {"grad_h_prev": "(B, H)"}
    returns = "one tensor grad_h_prev"
    truth = "autograd through torch.nn.GRUCell"
    by_hand = True
    mistakes = GRAD_MISTAKES
    equations_hint = ("Go back from grad_h_t one step at a time: through h_t = (1 - z) * n + z * h_prev, then "
                      "n = tanh(i_n + r * h_n), then r and z (sigmoids), then the hidden projections "
                      "gh = h_prev @ w_hh.T + b_hh, which send d_gh @ w_hh back to h_prev. Print each piece's "
                      "shape: all are (B, H) but d_gh (B, 3H).")

    def shapes(self, c):
        return {**super().shapes(c), "grad_h_t": (c.B, c.H)}

    def output_shapes(self, c):
        return {"grad_h_prev": (c.B, c.H)}

    def expected(self, case, inputs):
        as64 = {k: v.double() for k, v in inputs.items()}
        cell = self.make_module(case, as64)
        h_prev = as64["h_prev"].clone().requires_grad_()
        (grad,) = torch.autograd.grad(cell(as64["x_t"], h_prev), h_prev, as64["grad_h_t"])
        return (grad,)

    parts = {
        "contract": (Case(2, 1, 4, 5, "float32", values=False), Case(1, 1, 3, 2, values=False),
                     Case(1, 1, 3, 2, device="meta", values=False)),
        "quick": (Case(2, 1, 4, 5), Case(1, 1, 3, 2, "float32")),
        "values": (Case(1, 1, 3, 2), Case(4, 1, 3, 5), Case(3, 1, 4, 2), Case(2, 1, 5, 5),
                   Case(5, 1, 1, 4), Case(2, 1, 6, 3, "float32"), Case(3, 1, 3, 6, "float32")),
        "devices": (Case(2, 1, 4, 5, "float32", device="meta"),),
        "cuda": (Case(2, 1, 4, 3, "float32", device="cuda"), Case(3, 1, 2, 5, device="cuda")),
    }


TASKS = (SequenceTask(), CellTask(), CellGradTask())
