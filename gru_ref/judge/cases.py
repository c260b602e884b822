"""What each exercise takes and returns, the random cases it is checked on, and its truth (torch.nn).

Trusted code: only the judge calls `make_inputs`, `expected` and `expected_grads`.
"""
from dataclasses import dataclass

import torch
from torch import nn

from gru_ref import shape_tasks
from gru_ref.mistakes import CELL_MISTAKES, GRAD_MISTAKES, MISTAKES, RNN_MISTAKES

try:  # the instructors' and the grader's copy; the learners' checker ships without it
    from gru_ref.layers_mistakes import LAYERS_MISTAKES
except ImportError:
    LAYERS_MISTAKES = ()

WEIGHT_NAMES = ("w_ih", "w_hh", "b_ih", "b_hh")


@dataclass(frozen=True)
class Case:
    B: int
    T: int
    F: int
    H: int
    dtype: str = "float64"
    device: str = "cpu"  # "cpu", "meta" (device-agnostic probe) or "cuda"
    grad: bool = False  # also compare gradients
    values: bool = True  # compare values (contract-only cases check types, shapes, dtype, device)
    layers: int = 1  # my_gru_layers only: num_layers, bidirectional, batch_first
    bidirectional: bool = False
    batch_first: bool = True

    @property
    def torch_dtype(self):
        return getattr(torch, self.dtype)

    def describe(self, task):
        sizes = f"B={self.B}, F={self.F}, H={self.H}" if not task.has_time else \
            f"B={self.B}, T={self.T}, F={self.F}, H={self.H}"
        return f"{sizes}{task.describe_layout(self)}, {self.dtype} on {self.device}"


def tolerances(case):
    """rtol, atol: tight for float64; PyTorch's defaults for float32 (looser on CUDA, TF32 off)."""
    if case.dtype == "float64":
        return 1e-10, 1e-12
    if case.device == "cuda":
        return 1e-5, 1e-5
    return 1.3e-6, 1e-5


def _random_inputs(shapes, dtype, generator):
    # Non-zero biases and initial state, weights of about nn.GRU's scale: weak inputs hide real bugs.
    scale = {"input": 1.0, "x_t": 1.0, "initial_states": 0.5, "h_prev": 0.5}
    return {name: (torch.randn(shape, generator=generator, dtype=torch.float64) * scale.get(name, 0.6))
            .to(dtype) for name, shape in shapes.items()}


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
        return _module_weights(module)

    def load(self, module, c, inputs):
        with torch.no_grad():
            for param, name in zip(self.module_weights(module), self.arg_names_for(c)[2:]):
                param.copy_(inputs[name])

    def call_module(self, module, inputs):
        output, h_n = module(inputs["input"], inputs["initial_states"].unsqueeze(0))
        return output, h_n.squeeze(0)  # h_n is (num_layers=1, B, H)

    def run_mistake(self, mistake, inputs, c):
        return mistake.run_sequence(*(inputs[n] for n in self.arg_names))

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
        "contract": (Case(2, 3, 4, 5, "float32", values=False), Case(1, 2, 3, 2, values=False)),
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


class RnnTask(SequenceTask):
    """my_rnn(input, initial_states, w_ih, w_hh, b_ih, b_hh) -> (output, h_final): the tanh RNN."""
    name = "my_rnn"
    mistakes = RNN_MISTAKES
    module = nn.RNN  # nonlinearity="tanh", its default
    module_name = "RNN"
    blocks = 1
    builtins = "nn.RNN, nn.RNNCell, torch.rnn_tanh, torch._VF"
    write_with = "matmuls and torch.tanh"
    layout_hint = ("w_ih is (H, F) and w_hh is (H, H), so the projections are x @ w_ih.T (B, H) and "
                   "h @ w_hh.T (B, H); input is (B, T, F), so time step t is input[:, t].")
    equations_hint = ("Check the step against nn.RNN's: h_t = tanh(x_t @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh), "
                      "with h_prev the state of the step before (initial_states at t = 0).")


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

    def run_mistake(self, mistake, inputs, c):
        return (mistake.run_cell(*(inputs[n] for n in self.arg_names)),)

    parts = {
        "contract": (Case(2, 1, 4, 5, "float32", values=False), Case(1, 1, 3, 2, values=False)),
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

    def run_mistake(self, mistake, inputs, c):
        return (mistake.cell(*(inputs[n] for n in self.arg_names)),)

    def expected(self, case, inputs):
        as64 = {k: v.double() for k, v in inputs.items()}
        cell = self.make_module(case, as64)
        h_prev = as64["h_prev"].clone().requires_grad_()
        (grad,) = torch.autograd.grad(cell(as64["x_t"], h_prev), h_prev, as64["grad_h_t"])
        return (grad,)

    parts = {
        "contract": (Case(2, 1, 4, 5, "float32", values=False), Case(1, 1, 3, 2, values=False)),
        "quick": (Case(2, 1, 4, 5), Case(1, 1, 3, 2, "float32")),
        "values": (Case(1, 1, 3, 2), Case(4, 1, 3, 5), Case(3, 1, 4, 2), Case(2, 1, 5, 5),
                   Case(5, 1, 1, 4), Case(2, 1, 6, 3, "float32"), Case(3, 1, 3, 6, "float32")),
        "devices": (Case(2, 1, 4, 5, "float32", device="meta"),),
        "cuda": (Case(2, 1, 4, 3, "float32", device="cuda"), Case(3, 1, 2, 5, device="cuda")),
    }


def _module_weights(module):
    """nn.GRU's / nn.RNN's / nn.GRUCell's parameters in our order: w_ih, w_hh, b_ih, b_hh."""
    suffix = "_l0" if isinstance(module, nn.RNNBase) else ""
    return [getattr(module, name + suffix) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


class LayersTask(SequenceTask):
    """my_gru_layers(input, h0, weights, num_layers, bidirectional, batch_first) -> (output, h_n):
    all of nn.GRU, with `weights` in nn.GRU's own parameter order."""
    name = "my_gru_layers"
    output_names = ("output", "h_n")
    returns = "a tuple (output, h_n)"
    mistakes = LAYERS_MISTAKES
    layout_hint = ("weights are nn.GRU's parameters in its order: for each layer, for each direction (forward, "
                   "then reverse), weight_ih (3H, F for layer 0, num_directions * H above), weight_hh (3H, H), "
                   "bias_ih (3H,), bias_hh (3H,). h0 is (num_layers * num_directions, B, H). input is "
                   "(B, T, F) if batch_first, else (T, B, F). Layer l > 0 reads the output of layer l - 1, "
                   "num_directions * H wide.")
    equations_hint = ("Check each layer and direction against your my_gru on the same slice of weights "
                      "(weights[4 * k:4 * k + 4], k = layer * num_directions + direction): the reverse "
                      "direction runs on the time-reversed sequence, and its outputs are flipped back.")

    def arg_names_for(self, c):
        return tuple(self.shapes(c))

    def shapes(self, c):
        """input, h0, then nn.GRU's parameters by their names, in nn.GRU's order."""
        D = 2 if c.bidirectional else 1
        shapes = {"input": (c.B, c.T, c.F) if c.batch_first else (c.T, c.B, c.F), "h0": (c.layers * D, c.B, c.H)}
        for layer in range(c.layers):
            for suffix in ("", "_reverse")[:D]:
                shapes[f"weight_ih_l{layer}{suffix}"] = (3 * c.H, c.F if layer == 0 else D * c.H)
                shapes[f"weight_hh_l{layer}{suffix}"] = (3 * c.H, c.H)
                shapes[f"bias_ih_l{layer}{suffix}"] = (3 * c.H,)
                shapes[f"bias_hh_l{layer}{suffix}"] = (3 * c.H,)
        return shapes

    def output_shapes(self, c):
        D = 2 if c.bidirectional else 1
        return {"output": (c.B, c.T, D * c.H) if c.batch_first else (c.T, c.B, D * c.H),
                "h_n": (c.layers * D, c.B, c.H)}

    def letters(self, c):
        return {"output": "(B, T, num_directions * H)" if c.batch_first else "(T, B, num_directions * H)",
                "h_n": "(num_layers * num_directions, B, H)"}

    def time_dim(self, c):
        return 1 if c.batch_first else 0

    def describe_layout(self, c):
        return f", num_layers={c.layers}, bidirectional={c.bidirectional}, batch_first={c.batch_first}"

    def call_spec(self, c):
        return {"list_from": 2, "extra": [c.layers, c.bidirectional, c.batch_first]}

    def make_module(self, c, inputs):
        module = nn.GRU(c.F, c.H, num_layers=c.layers, bidirectional=c.bidirectional, batch_first=c.batch_first,
                        dtype=inputs["input"].dtype)
        self.load(module, c, inputs)
        return module

    def call_module(self, module, inputs):
        return module(inputs["input"], inputs["h0"])

    def module_weights(self, module):
        return list(module.parameters())  # nn.GRU's own order, the order of `weights`

    def run_mistake(self, mistake, inputs, c):
        names = self.arg_names_for(c)
        return mistake.run_layers(inputs["input"], inputs["h0"], [inputs[n] for n in names[2:]], c.layers,
                                  c.bidirectional, c.batch_first)

    # The first quick case has F == num_directions * H, so that "every layer reads the input" runs there
    # and can be named (elsewhere it fails on shapes, with the layout hint).
    parts = {
        "contract": (Case(2, 3, 4, 5, "float32", values=False, layers=2, bidirectional=True, batch_first=False),
                     Case(1, 2, 3, 2, values=False)),
        "quick": (Case(2, 3, 6, 3, layers=2, bidirectional=True), Case(2, 3, 4, 5, layers=3, batch_first=False),
                  Case(1, 2, 3, 2, "float32", batch_first=False)),
        "values": (Case(1, 1, 3, 2, layers=2, bidirectional=True), Case(3, 4, 6, 3, layers=2, bidirectional=True),
                   Case(2, 5, 4, 4, layers=3, batch_first=False), Case(2, 3, 8, 4, layers=2, bidirectional=True,
                                                                        batch_first=False),
                   Case(4, 1, 3, 5, bidirectional=True), Case(1, 6, 2, 3, layers=2),
                   Case(2, 4, 6, 3, "float32", layers=2, bidirectional=True),
                   Case(3, 5, 4, 2, "float32", layers=3, bidirectional=True, batch_first=False)),
        "gradients": (Case(2, 3, 3, 4, grad=True, layers=2, bidirectional=True, batch_first=False),
                      Case(1, 2, 2, 3, "float32", grad=True, layers=2)),
        "devices": (Case(2, 3, 4, 5, "float32", device="meta", layers=2, bidirectional=True),
                    Case(1, 2, 3, 2, device="meta", batch_first=False)),
        "cuda": (Case(2, 5, 4, 3, "float32", device="cuda", layers=2, bidirectional=True),
                 Case(2, 3, 4, 5, device="cuda", grad=True, layers=2, bidirectional=True, batch_first=False)),
    }


from gru_ref.train_task import TrainTask  # noqa: E402 (train_gru: a task of its own module)

TASKS = {task.name: task for task in (SequenceTask(), CellTask(), CellGradTask(), RnnTask(), LayersTask(),
                                      TrainTask())}
TASKS.update({task.name: task for task in shape_tasks.TASKS})  # the shapes assignment: ints, no tensors


def make_inputs(task, case, generator):
    if hasattr(task, "make_inputs"):  # a task with inputs of its own kind (train_gru's sequences)
        return task.make_inputs(case, generator)
    return _random_inputs(task.shapes(case), case.torch_dtype, generator)


def expected(task, case, inputs):
    """The truth, in float64, computed with torch.nn: the same weights, the same inputs."""
    return task.expected(case, inputs)


def expected_grads(task, case, inputs, grad_outputs):
    """Gradients of sum(out * grad_out) w.r.t. every argument, by nn's autograd, in float64."""
    as64 = {k: v.double() for k, v in inputs.items()}
    module = task.make_module(case, as64)
    data = {k: as64[k].clone().requires_grad_() for k in task.arg_names_for(case)[:2]}
    outs = task.call_module(module, {**as64, **data})
    torch.autograd.backward(outs, [g.double() for g in grad_outputs])
    return tuple(t.grad for t in [*data.values(), *task.module_weights(module)])

