"""What every recurrent exercise shares: a case (its sizes, dtype, device and what to compare), the
tolerances, random inputs, and the truth computed from a task's torch.nn module. The tasks themselves
live in gru_ref.assignments, one module per assignment.

Trusted code: only the judge calls `make_inputs`, `expected` and `expected_grads`.
"""
from dataclasses import dataclass, replace

import torch
from torch import nn

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


def module_weights(module):
    """nn.GRU's / nn.RNN's / nn.GRUCell's parameters in our order: w_ih, w_hh, b_ih, b_hh."""
    suffix = "_l0" if isinstance(module, nn.RNNBase) else ""
    return [getattr(module, name + suffix) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


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


def varied(task, case, generator):
    """The case with sizes of its own, drawn from `generator` (a learner's hidden cases, see
    gru_ref.judge.secret): each size above 1 becomes one of 2 .. size + 3; a size of 1 stays 1 (the
    edge case it is there for), F stays apart from H, and F = num_directions * H stays so. A task
    with inputs or configurations of its own kind (train_gru, shapes) keeps its cases."""
    if hasattr(task, "make_inputs") or hasattr(task, "draw_cases"):
        return case

    def draw(size):
        return size if size == 1 else int(torch.randint(2, size + 4, (), generator=generator))

    D = 2 if case.bidirectional else 1
    B, T, H = draw(case.B), draw(case.T) if task.has_time else case.T, draw(case.H)
    F = D * H if case.F == D * case.H else draw(case.F)
    if F == H and case.F != case.H:
        F += 1
    return replace(case, B=B, T=T, F=F, H=H)
