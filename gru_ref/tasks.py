"""What each exercise takes and returns, the random cases it is checked on, and its truth (torch.nn).

Trusted code: only the judge calls `make_inputs`, `expected` and `expected_grads`.
"""
from dataclasses import dataclass

import torch
from torch import nn

from gru_ref.mistakes import CELL_MISTAKES, GRAD_MISTAKES, MISTAKES

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

    @property
    def torch_dtype(self):
        return getattr(torch, self.dtype)

    def describe(self, task):
        sizes = f"B={self.B}, F={self.F}, H={self.H}" if task.name == "gru_cell" else \
            f"B={self.B}, T={self.T}, F={self.F}, H={self.H}"
        return f"{sizes}, {self.dtype} on {self.device}"


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
    """my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh) -> (output, h_final)."""
    name = "my_gru"
    arg_names = ("input", "initial_states") + WEIGHT_NAMES
    output_names = ("output", "h_final")
    returns = "a tuple (output, h_final)"
    truth = "torch.nn.GRU"  # what the answer is compared with, as messages name it
    by_hand = False  # whether autograd inside the answer is refused
    mistakes = MISTAKES

    def shapes(self, c):
        return {"input": (c.B, c.T, c.F), "initial_states": (c.B, c.H), "w_ih": (3 * c.H, c.F),
                "w_hh": (3 * c.H, c.H), "b_ih": (3 * c.H,), "b_hh": (3 * c.H,)}

    def output_shapes(self, c):
        return {"output": (c.B, c.T, c.H), "h_final": (c.B, c.H)}

    def make_module(self, c, inputs):
        gru = nn.GRU(c.F, c.H, batch_first=True, dtype=inputs["input"].dtype)
        _load(gru, inputs)
        return gru

    def call_module(self, module, inputs):
        output, h_n = module(inputs["input"], inputs["initial_states"].unsqueeze(0))
        return output, h_n.squeeze(0)  # h_n is (num_layers=1, B, H)

    def run_mistake(self, mistake, inputs):
        return mistake.run_sequence(*(inputs[n] for n in self.arg_names))

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


class CellTask(SequenceTask):
    """gru_cell(x_t, h_prev, w_ih, w_hh, b_ih, b_hh) -> h_t: one time step."""
    name = "gru_cell"
    arg_names = ("x_t", "h_prev") + WEIGHT_NAMES
    output_names = ("h_t",)
    returns = "one tensor h_t"
    truth = "torch.nn.GRUCell"
    mistakes = CELL_MISTAKES

    def shapes(self, c):
        return {"x_t": (c.B, c.F), "h_prev": (c.B, c.H), "w_ih": (3 * c.H, c.F),
                "w_hh": (3 * c.H, c.H), "b_ih": (3 * c.H,), "b_hh": (3 * c.H,)}

    def output_shapes(self, c):
        return {"h_t": (c.B, c.H)}

    def make_module(self, c, inputs):
        cell = nn.GRUCell(c.F, c.H, dtype=inputs["x_t"].dtype)
        _load(cell, inputs)
        return cell

    def call_module(self, module, inputs):
        return (module(inputs["x_t"], inputs["h_prev"]),)

    def run_mistake(self, mistake, inputs):
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
    returns = "one tensor grad_h_prev"
    truth = "autograd through torch.nn.GRUCell"
    by_hand = True
    mistakes = GRAD_MISTAKES

    def shapes(self, c):
        return {**super().shapes(c), "grad_h_t": (c.B, c.H)}

    def output_shapes(self, c):
        return {"grad_h_prev": (c.B, c.H)}

    def run_mistake(self, mistake, inputs):
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
    """nn.GRU's / nn.GRUCell's parameters in our order: w_ih, w_hh, b_ih, b_hh."""
    suffix = "_l0" if isinstance(module, nn.GRU) else ""
    return [getattr(module, name + suffix) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def _load(module, inputs):
    with torch.no_grad():
        for param, name in zip(_module_weights(module), WEIGHT_NAMES):
            param.copy_(inputs[name])


TASKS = {task.name: task for task in (SequenceTask(), CellTask(), CellGradTask())}


def make_inputs(task, case, generator):
    return _random_inputs(task.shapes(case), case.torch_dtype, generator)


def expected(task, case, inputs):
    """The truth, in float64, computed with torch.nn: the same weights, the same inputs."""
    return task.expected(case, inputs)


def expected_grads(task, case, inputs, grad_outputs):
    """Gradients of sum(out * grad_out) w.r.t. every argument, by nn's autograd, in float64."""
    as64 = {k: v.double() for k, v in inputs.items()}
    module = task.make_module(case, as64)
    data = {k: as64[k].clone().requires_grad_() for k in task.arg_names[:2]}
    outs = task.call_module(module, {**as64, **data})
    torch.autograd.backward(outs, [g.double() for g in grad_outputs])
    return tuple(t.grad for t in [*data.values(), *_module_weights(module)])

