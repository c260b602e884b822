"""The shapes assignment's tasks: say what an nn.Linear stack, an nn.Conv2d and an nn.RNN / nn.GRU
give for given sizes, without running them.

Each function takes the input's shape and the module's own constructor arguments, and returns
(output_shape, [h_n_shape,] weight_shapes, num_params): weight_shapes in the module's own
`parameters()` order, as `[tuple(p.shape) for p in module.parameters()]` gives them.

A task is data, as in gru_ref.assignments.gru: its arguments, its random configurations (drawn by the judge
from its generator), its truth (the real module, an input run through it: on the meta device, no
memory and no values; recurrent layers on the CPU) and the words of its messages: the name of every
axis and parameter, and where to look when one is wrong. Only the judge calls `draw_cases` and
`expected`; the learner's side sees only the arguments (`call_spec`).
"""
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ShapeCase:
    """One configuration: the function's arguments, plain JSON-ready values."""
    args: tuple
    values: bool = True  # False: the contract only (the answer's form: ints, and tuples of ints)
    dtype: str = "int64"  # what the answer crosses as; no tensor goes in (the judge's payload reads these)
    device: str = "cpu"
    grad: bool = False

    @property
    def torch_dtype(self):
        return torch.int64

    def describe(self, task):
        return ", ".join(f"{name}={value!r}" for name, value in zip(task.arg_names, self.args))


def _randint(generator, low, high):
    """An int in [low, high], from the judge's generator."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def _choice(generator, options):
    return options[_randint(generator, 0, len(options) - 1)]


class ShapesTask:
    """What the three shapes tasks share: plain arguments in, an answer of ints out, judged by
    gru_ref.assignments.shapes.diagnose against the module itself."""
    answer_kind = "ints"  # the judge rules with gru_ref.assignments.shapes.diagnose
    arg_names = ()  # the function's parameters, as messages name them
    output_names = ("output_shape", "weight_shapes", "num_params")
    kinds = ("shape", "shapes", "count")  # how gru_ref.learner.shape_answers reads each item
    random_cases = {"quick": 3, "values": 24}  # drawn by the judge on top of the fixed ones
    # The mistakes' code is the instructors' (gru_ref.reference.shapes_mistakes); the learners' checker
    # reads their answers on each task's fixed diagnosis_cases from a table (gru_ref.judge.mistake_table).
    mistakes_in_reference = True

    @property
    def returns(self):
        return f"a tuple ({', '.join(self.output_names)})"

    @property
    def truth(self):
        return f"torch.nn.{self.module_name}"

    layout_hint = ("Return a tuple of Python ints and tuples of ints; torch.Size is a tuple too. "
                   "Read the sizes off the arguments.")

    # The hooks the judge and the sandbox use (see gru_ref.assignments.gru.SequenceTask): no tensor goes in.
    def arg_names_for(self, case):
        return ()

    def shapes(self, case):
        return {}

    def output_shapes(self, case):
        return {}

    def call_spec(self, case):
        """The arguments as JSON, with which of them are tuples (input_shape: `input_shape[:-1] + (n,)`
        must work), and the layout the answer is read in (gru_ref.learner.shape_answers)."""
        return {"args": [list(a) if isinstance(a, tuple) else a for a in case.args],
                "tuples": [i for i, a in enumerate(case.args) if isinstance(a, tuple)],
                "answer": [list(item) for item in zip(self.output_names, self.kinds)]}

    def draw_cases(self, part, generator):
        """The fixed cases of a part, then random ones drawn from the judge's generator."""
        drawn = tuple(ShapeCase(self.draw(generator)) for _ in range(self.random_cases.get(part, 0)))
        return self.parts[part] + drawn

    def expected(self, case):
        """The truth: {output name: value}, from the real module and an input run through it."""
        module, output = self.run_module(*case.args)
        parameters = list(module.parameters())
        shapes = [tuple(output.shape)] if isinstance(output, torch.Tensor) else [tuple(o.shape) for o in output]
        return dict(zip(self.output_names, [*shapes, [tuple(p.shape) for p in parameters],
                                            sum(p.numel() for p in parameters)]))

    def parameter_names(self, case):
        module, _ = self.run_module(*case.args)
        return [name for name, _ in module.named_parameters()]

    def module_of(self, case):
        """The module, as a message names it."""
        return f"nn.{self.module_name}"


class MlpShapesTask(ShapesTask):
    """mlp_shapes(input_shape, sizes) -> (output_shape, weight_shapes, num_params) of
    nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(), ..., nn.Linear(sizes[-2], sizes[-1]))."""
    name = "mlp_shapes"
    arg_names = ("input_shape", "sizes")
    module_name = "Linear"
    module_words = "the nn.Linear layers"

    def run_module(self, input_shape, sizes):
        layers = []
        for n_in, n_out in zip(sizes, sizes[1:]):
            layers += [nn.Linear(n_in, n_out, device="meta"), nn.ReLU()]
        model = nn.Sequential(*layers[:-1])
        return model, model(torch.empty(input_shape, device="meta"))

    @property
    def truth(self):
        return "a stack of torch.nn.Linear"

    def module_of(self, case):
        return "the nn.Linear stack"

    def axes(self, case, output):
        leading = [(f"input_shape[{i}]", "a leading axis of the input") for i in range(len(case.args[0]) - 1)]
        return leading + [("sizes[-1]", "the features out of the last layer")]

    def axis_hint(self, case, output, axis):
        if axis == len(case.args[0]) - 1:
            return "The last layer, nn.Linear(sizes[-2], sizes[-1]), gives sizes[-1] features."
        return ("nn.Linear acts on the last axis only: every axis in front of it is carried along "
                "unchanged, layer after layer (chapter 2).")

    def parameter_hint(self, case, name):
        layer = int(name.split(".")[0]) // 2
        n_in, n_out = case.args[1][layer], case.args[1][layer + 1]
        if name.endswith("weight"):
            return (f"the weight of layer {layer}, nn.Linear({n_in}, {n_out}): nn.Linear stores it as "
                    f"(out_features, in_features), the output size first (chapter 2).")
        return f"the bias of layer {layer}, nn.Linear({n_in}, {n_out}): one per output feature."

    def draw(self, generator):
        leading = tuple(_randint(generator, 1, 16) for _ in range(_randint(generator, 1, 3)))
        sizes = [_randint(generator, 1, 300) for _ in range(_randint(generator, 2, 5))]
        return (leading + (sizes[0],), sizes)

    parts = {
        "contract": (ShapeCase(((8, 784), [784, 128, 10]), values=False),
                     ShapeCase(((2, 5, 3), [3, 4]), values=False)),
        "quick": (ShapeCase(((8, 784), [784, 128, 64, 10])), ShapeCase(((4, 7, 3), [3, 5])),
                  ShapeCase(((1, 1), [1, 1, 1]))),
        "values": (ShapeCase(((16, 100), [100, 20, 5])), ShapeCase(((2, 3, 4, 6), [6, 9, 2, 9])),
                   ShapeCase(((5, 2), [2, 300, 1]))),
    }
    diagnosis_cases = (ShapeCase(((2, 3, 4, 6), [6, 9, 2, 9])),)  # every mistake shows here


class Conv2dShapesTask(ShapesTask):
    """conv2d_shapes(input_shape, out_channels, kernel_size, stride, padding, dilation, groups)
    -> (output_shape, weight_shapes, num_params) of nn.Conv2d(input_shape[1], out_channels, ...)."""
    name = "conv2d_shapes"
    arg_names = ("input_shape", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups")
    module_name = "Conv2d"
    module_words = "nn.Conv2d"
    AXES = (("B", "the batch"), ("C_out", "the channels"), ("H_out", "the height"), ("W_out", "the width"))

    def run_module(self, input_shape, out_channels, kernel_size, stride, padding, dilation, groups):
        conv = nn.Conv2d(input_shape[1], out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, device="meta")
        return conv, conv(torch.empty(input_shape, device="meta"))

    def axes(self, case, output):
        return list(self.AXES)

    def axis_hint(self, case, output, axis):
        if axis == 0:
            return "The batch axis passes through a convolution unchanged."
        if axis == 1:
            return "A convolution gives out_channels channels, whatever its input had."
        return ("Each spatial side follows nn.Conv2d's documented rule, "
                "floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1: chapter 3's "
                "formula with dilation (a kernel of size k with dilation d spans d * (k - 1) + 1 pixels). "
                "Height is axis 2 and width axis 3 of (B, C, H, W).")

    def parameter_hint(self, case, name):
        if name == "weight":
            return ("the weight, (C_out, C_in / groups, kernel_size, kernel_size): with groups, each output "
                    "channel sees only the C_in / groups input channels of its group (chapter 3's depthwise "
                    "convolution has groups = C_in).")
        return "the bias: one per output channel."

    def draw(self, generator):
        while True:
            groups = _choice(generator, (1, 1, 1, 2, 3, 4))
            in_channels, out_channels = groups * _randint(generator, 1, 4), groups * _randint(generator, 1, 4)
            kernel_size, stride = _randint(generator, 1, 7), _randint(generator, 1, 4)
            padding, dilation = _randint(generator, 0, 3), _randint(generator, 1, 3)
            height, width = _randint(generator, 1, 40), _randint(generator, 1, 40)
            span = dilation * (kernel_size - 1)  # the kernel must fit in the padded input
            if min(height, width) + 2 * padding > span:
                return ((_randint(generator, 1, 8), in_channels, height, width), out_channels, kernel_size,
                        stride, padding, dilation, groups)

    parts = {
        "contract": (ShapeCase(((8, 3, 32, 32), 16, 3, 1, 1, 1, 1), values=False),
                     ShapeCase(((1, 4, 9, 6), 2, 3, 2, 0, 1, 2), values=False)),
        "quick": (ShapeCase(((8, 3, 32, 32), 16, 3, 1, 1, 1, 1)), ShapeCase(((2, 4, 15, 10), 6, 3, 2, 1, 2, 2)),
                  ShapeCase(((1, 3, 7, 9), 3, 3, 1, 0, 1, 3))),
        "values": (ShapeCase(((8, 3, 32, 32), 16, 5, 2, 2, 1, 1)), ShapeCase(((3, 6, 17, 11), 4, 4, 3, 1, 2, 2)),
                   ShapeCase(((2, 8, 5, 23), 8, 1, 1, 0, 1, 8)), ShapeCase(((1, 2, 10, 7), 6, 7, 4, 3, 1, 1))),
    }
    # dilation, padding, a stride that does not divide, groups, C_in != C_out, H != W: every mistake shows
    diagnosis_cases = (ShapeCase(((2, 4, 15, 10), 6, 3, 2, 1, 2, 2)),)


class RnnShapesTask(ShapesTask):
    """rnn_shapes(kind, input_shape, hidden_size, num_layers, bidirectional, batch_first)
    -> (output_shape, h_n_shape, weight_shapes, num_params) of nn.RNN (kind "RNN") or nn.GRU ("GRU")."""
    name = "rnn_shapes"
    arg_names = ("kind", "input_shape", "hidden_size", "num_layers", "bidirectional", "batch_first")
    output_names = ("output_shape", "h_n_shape", "weight_shapes", "num_params")
    kinds = ("shape", "shape", "shapes", "count")
    module_words = "nn.RNN or nn.GRU"

    def run_module(self, kind, input_shape, hidden_size, num_layers, bidirectional, batch_first):
        # On the CPU, with zeros: on the meta device a recurrent layer runs PyTorch's Python loop, step by
        # step (80 ms for 3 bidirectional layers), and these inputs are a few kilobytes.
        module = getattr(nn, kind)(input_shape[2], hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                                   batch_first=batch_first)
        with torch.no_grad():
            return module, module(torch.zeros(input_shape))

    module_name = "RNN and torch.nn.GRU"

    def module_of(self, case):
        return f"nn.{case.args[0]}"

    def axes(self, case, output):
        if output == "h_n_shape":
            return [("num_layers * num_directions", "one row per layer and direction"), ("B", "the batch"),
                    ("H", "the hidden size")]
        batch, time = ("B", "the batch"), ("T", "the time steps")
        return [*((batch, time) if case.args[5] else (time, batch)),
                ("num_directions * H", "the top layer's states, both directions side by side")]

    def axis_hint(self, case, output, axis):
        if output == "h_n_shape":
            return ("h_n holds every layer's and direction's last state: (num_layers * num_directions, B, H), "
                    "with the batch second even when batch_first=True (chapter 4).")
        if axis < 2:
            return ("input is (B, T, F) if batch_first else (T, B, F), and output keeps the input's layout: "
                    "batch_first changes only the order of those two axes (chapter 4).")
        return ("output holds the top layer's state at every step; with bidirectional=True the forward "
                "and the reverse states sit side by side: num_directions * H.")

    def parameter_hint(self, case, name):
        kind, layer = case.args[0], int(name.split("_l")[1].split("_")[0])
        blocks = "3H rows for nn.GRU (its r, z and n gate blocks), H for nn.RNN"
        if name.startswith("weight_ih"):
            reads = ("the F input features, input_shape[-1]" if layer == 0 else
                     f"the output of layer {layer - 1}: num_directions * H wide")
            return f"{name}, the input weight of layer {layer}: {blocks}; its columns read {reads}."
        if name.startswith("weight_hh"):
            return f"{name}, the hidden weight of layer {layer}: {blocks}, and H columns (it reads the state)."
        return (f"{name}: {blocks.replace(' rows', '')} entries. Each layer and direction has two biases, "
                f"bias_ih and bias_hh.")

    def draw(self, generator):
        kind, batch_first = _choice(generator, ("RNN", "GRU")), _choice(generator, (True, False))
        B, T, F = _randint(generator, 1, 8), _randint(generator, 1, 12), _randint(generator, 1, 24)
        return (kind, (B, T, F) if batch_first else (T, B, F), _randint(generator, 1, 24), _randint(generator, 1, 4),
                _choice(generator, (True, False)), batch_first)

    parts = {
        "contract": (ShapeCase(("GRU", (3, 5, 4), 6, 2, True, True), values=False),
                     ShapeCase(("RNN", (7, 2, 10), 20, 1, False, False), values=False)),
        "quick": (ShapeCase(("GRU", (3, 5, 4), 6, 2, True, True)), ShapeCase(("RNN", (7, 2, 10), 20, 3, False, False)),
                  ShapeCase(("GRU", (16, 7, 10), 20, 3, False, True))),
        "values": (ShapeCase(("RNN", (3, 5, 4), 6, 2, True, True)), ShapeCase(("GRU", (9, 4, 3), 5, 4, True, False)),
                   ShapeCase(("GRU", (1, 1, 1), 1, 1, False, True)), ShapeCase(("RNN", (2, 3, 8), 4, 3, True, True))),
    }
    # both layouts, both kinds, layers above the first, two directions: every mistake shows in one
    diagnosis_cases = (ShapeCase(("GRU", (9, 4, 3), 5, 4, True, False)), ShapeCase(("RNN", (3, 5, 4), 6, 2, True, True)))


TASKS = (MlpShapesTask(), Conv2dShapesTask(), RnnShapesTask())
