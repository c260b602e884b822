"""The wrong shapes and counts a teacher sees every term, for the shapes assignment, each computed
for real and paired with its lesson.

When one part of a learner's answer (an output shape, the parameter shapes, the count) misses the
module's, the judge computes every mistake of that task here on the same configuration and names the
one whose same part the learner's matches.

Kept apart from its assignment (gru_ref.assignments): the formulas here are, knob for knob, the whole answer to the
shapes assignment, so this module stays with the instructors and the grader, and the learners'
checker (book/_ext/learner_edition.py) ships without it: there, the shapes checks name a mistake
from a table of these mistakes' answers on each task's fixed diagnosis configurations, made when the
wheel is built (gru_ref.judge.mistake_table).
"""
from dataclasses import dataclass
from math import prod


def _answer(output_shapes, weight_shapes):
    return (*output_shapes, [tuple(s) for s in weight_shapes], sum(prod(s) for s in weight_shapes))


RIGHT_MLP = {"bias": True, "weight": "out_in", "leading": "kept"}


def _mlp(input_shape, sizes, *, bias, weight, leading):
    shapes = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        shapes.append((n_out, n_in) if weight == "out_in" else (n_in, n_out))
        if bias:
            shapes.append((n_out,))
    front = tuple(input_shape[:-1]) if leading == "kept" else tuple(input_shape[:1])
    return _answer([front + (sizes[-1],)], shapes)


RIGHT_CONV = {"dilated": True, "padding_sides": 2, "rounding": "floor", "plus_one": True, "channels": "out",
              "height_first": True, "grouped": True, "bias": True, "kernel_axes": 2}


def _conv(input_shape, out_channels, kernel_size, stride, padding, dilation, groups, **knobs):
    k = {**RIGHT_CONV, **knobs}
    B, C, height, width = input_shape

    def side(size):
        reach = size + k["padding_sides"] * padding - (dilation if k["dilated"] else 1) * (kernel_size - 1) - 1
        steps = reach // stride if k["rounding"] == "floor" else -(-reach // stride)
        return steps + (1 if k["plus_one"] else 0)

    sides = (side(height), side(width)) if k["height_first"] else (side(width), side(height))
    output = (B, out_channels if k["channels"] == "out" else C, *sides)
    weight = (out_channels, C // groups if k["grouped"] else C, kernel_size, kernel_size)
    shapes = [weight] + [(out_channels,)] * k["bias"]
    answer = _answer([output], shapes)
    if k["kernel_axes"] == 1:  # the count multiplies the kernel size in once: k, not k * k
        answer = (*answer[:2], answer[2] - prod(weight) + prod(weight) // kernel_size)
    return answer


RIGHT_RNN = {"blocks": "by_kind", "biases": 2, "upper_reads": "directions", "reverse": True, "width": "directions",
             "output_layout": "input's", "batch_axis": "by_layout", "h_n": "layers_directions", "order": "torch"}


def _rnn(kind, input_shape, H, num_layers, bidirectional, batch_first, **knobs):
    k = {**RIGHT_RNN, **knobs}
    D = 2 if bidirectional else 1
    first, second, F = input_shape
    B, T = (first, second) if batch_first or k["batch_axis"] == "first" else (second, first)
    gates = 3 if kind == "GRU" else 1
    G = (gates if k["blocks"] == "by_kind" else 4 - gates) * H  # 3H for nn.GRU, H for nn.RNN
    upper = {"directions": D * H, "input": F, "hidden": H}[k["upper_reads"]]
    shapes = []
    for layer in range(num_layers):
        for _ in range(D if k["reverse"] else 1):
            columns = F if layer == 0 else upper
            weights, biases = [(G, columns), (G, H)], [(G,)] * (k["biases"])
            shapes += weights + biases if k["order"] == "torch" else [weights[0], *biases[:1], weights[1], *biases[1:]]
    width = D * H if k["width"] == "directions" else H
    output = (B, T, width) if batch_first or k["output_layout"] == "batch_first" else (T, B, width)
    rows = {"layers_directions": num_layers * D, "layers": num_layers, "top_layer": D}.get(k["h_n"], num_layers * D)
    h_n = (B, rows, H) if k["h_n"] == "batch_first" and batch_first else (rows, B, H)
    return _answer([output, h_n], shapes)


@dataclass(frozen=True)
class ShapeMistake:
    name: str
    task: str  # the task it belongs to: mlp_shapes, conv2d_shapes or rnn_shapes
    lesson: str
    knobs: dict

    def answer(self, *args):
        """This mistake's whole answer for the function's arguments: a tuple like the function's."""
        formula, right = {"mlp_shapes": (_mlp, RIGHT_MLP), "conv2d_shapes": (_conv, RIGHT_CONV),
                          "rnn_shapes": (_rnn, RIGHT_RNN)}[self.task]
        knobs = {**right, **self.knobs}
        if knobs == right:
            raise ValueError("a mistake needs at least one knob turned away from the module")
        return formula(*args, **knobs)


SHAPE_MISTAKES = (
    ShapeMistake("mlp_bias_missing", "mlp_shapes",
                 "Each nn.Linear has a bias, one per output feature, as well as its weight: parameters() gives "
                 "weight (out, in), then bias (out,), layer after layer, and each layer counts "
                 "n_in * n_out + n_out parameters.", {"bias": False}),
    ShapeMistake("mlp_weight_in_out", "mlp_shapes",
                 "nn.Linear stores its weight as (out_features, in_features), the output size first: "
                 "y = x @ W.T + b (chapter 2).", {"weight": "in_out"}),
    ShapeMistake("mlp_leading_axes_dropped", "mlp_shapes",
                 "Only the batch axis was kept. nn.Linear acts on the last axis only, and every axis in front "
                 "of it is carried along: the output has all of input_shape's leading axes.", {"leading": "first"}),
    ShapeMistake("conv_dilation_ignored", "conv2d_shapes",
                 "The output size leaves out dilation. A kernel of size k with dilation d spans d * (k - 1) + 1 "
                 "pixels, so each side is floor((size + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) "
                 "+ 1.", {"dilated": False}),
    ShapeMistake("conv_padding_one_side", "conv2d_shapes",
                 "padding adds that many pixels on both sides of each axis: 2 * padding in all.",
                 {"padding_sides": 1}),
    ShapeMistake("conv_rounded_up", "conv2d_shapes",
                 "The division by stride rounds down (floor, // in Python): a last window that would run past "
                 "the padded input is not computed.", {"rounding": "ceil"}),
    ShapeMistake("conv_plus_one_missing", "conv2d_shapes",
                 "Count the windows: the first one sits at the start, and each stride adds one more, so the "
                 "size is floor(...) + 1, not floor(...).", {"plus_one": False}),
    ShapeMistake("conv_in_channels_out", "conv2d_shapes",
                 "The output has out_channels channels: each output channel is made by its own set of kernels, "
                 "whatever the input had.", {"channels": "in"}),
    ShapeMistake("conv_height_width_swapped", "conv2d_shapes",
                 "Height comes before width: the output is (B, C_out, H_out, W_out), with H_out computed from "
                 "input_shape[2] and W_out from input_shape[3].", {"height_first": False}),
    ShapeMistake("conv_groups_ignored", "conv2d_shapes",
                 "groups splits the channels: each output channel sees only in_channels / groups input "
                 "channels, so the weight is (C_out, C_in / groups, k, k), groups times fewer parameters.",
                 {"grouped": False}),
    ShapeMistake("conv_bias_missing", "conv2d_shapes",
                 "nn.Conv2d has a bias, one per output channel, after its weight in parameters(), and it counts "
                 "in num_params.", {"bias": False}),
    ShapeMistake("conv_kernel_counted_once", "conv2d_shapes",
                 "Each kernel is kernel_size x kernel_size: the weight has C_out * (C_in / groups) * "
                 "kernel_size * kernel_size entries.", {"kernel_axes": 1}),
    ShapeMistake("rnn_gate_blocks", "rnn_shapes",
                 "The rows of the weights and biases: nn.GRU stacks its three gate blocks (r, z, n), so 3H rows; "
                 "nn.RNN has no gates, so H rows.", {"blocks": "swapped"}),
    ShapeMistake("rnn_one_bias", "rnn_shapes",
                 "Each layer and direction has two biases, bias_ih and bias_hh, after its two weights: four "
                 "parameters per layer and direction.", {"biases": 1}),
    ShapeMistake("rnn_upper_layers_read_the_input", "rnn_shapes",
                 "Layer l > 0 reads the output of layer l - 1, not the input: its weight_ih has num_directions * H "
                 "columns, not F.", {"upper_reads": "input"}),
    ShapeMistake("rnn_upper_layers_read_one_direction", "rnn_shapes",
                 "With bidirectional=True, layer l > 0 reads both directions of the layer below side by side: "
                 "its weight_ih has 2H columns, not H.", {"upper_reads": "hidden"}),
    ShapeMistake("rnn_reverse_weights_missing", "rnn_shapes",
                 "bidirectional=True gives every layer a second set of four parameters for the reverse direction "
                 "(weight_ih_l0_reverse, ...), right after the forward ones: twice the parameters.",
                 {"reverse": False}),
    ShapeMistake("rnn_output_one_direction", "rnn_shapes",
                 "With bidirectional=True the output puts the forward and the reverse states side by side: its "
                 "last axis is num_directions * H.", {"width": "hidden"}),
    ShapeMistake("rnn_output_always_batch_first", "rnn_shapes",
                 "output keeps the input's layout: (T, B, num_directions * H) when batch_first=False.",
                 {"output_layout": "batch_first"}),
    ShapeMistake("rnn_batch_read_from_axis_0", "rnn_shapes",
                 "With batch_first=False the input is (T, B, F): the batch is input_shape[1], the time steps "
                 "input_shape[0].", {"batch_axis": "first"}),
    ShapeMistake("rnn_h_n_batch_first", "rnn_shapes",
                 "h_n is (num_layers * num_directions, B, H) even with batch_first=True: batch_first changes only "
                 "the input and the output (chapter 4).", {"h_n": "batch_first"}),
    ShapeMistake("rnn_h_n_one_row_per_layer", "rnn_shapes",
                 "h_n has one row per layer and direction: num_layers * num_directions rows.", {"h_n": "layers"}),
    ShapeMistake("rnn_h_n_top_layer_only", "rnn_shapes",
                 "h_n holds the last state of every layer (and direction), not only the top layer's: that one is "
                 "in output already.", {"h_n": "top_layer"}),
    ShapeMistake("rnn_parameter_order", "rnn_shapes",
                 "parameters() gives each layer's and direction's four in the order weight_ih, weight_hh, "
                 "bias_ih, bias_hh (named_parameters() shows the names).", {"order": "ih_then_hh"}),
)
