"""Learner answers for the `shapes` assignment, as the source of one answer cell each: right ones,
the common mistakes (one per gru_ref.reference.shapes_mistakes entry), the modules themselves, and answers
built to break the reading of what they return."""

MLP = '''
def mlp_shapes(input_shape, sizes):
    weight_shapes = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        weight_shapes += [(n_out, n_in), (n_out,)]
    num_params = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes, sizes[1:]))
    return tuple(input_shape[:-1]) + (sizes[-1],), weight_shapes, num_params
'''

CONV = '''
def conv2d_shapes(input_shape, out_channels, kernel_size, stride, padding, dilation, groups):
    B, C, height, width = input_shape

    def side(size):
        return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1

    weight = (out_channels, C // groups, kernel_size, kernel_size)
    num_params = out_channels * (C // groups) * kernel_size * kernel_size + out_channels
    return (B, out_channels, side(height), side(width)), [weight, (out_channels,)], num_params
'''

RNN = '''
def rnn_shapes(kind, input_shape, hidden_size, num_layers, bidirectional, batch_first):
    H, D = hidden_size, 2 if bidirectional else 1
    G = 3 * H if kind == "GRU" else H
    F = input_shape[2]
    B = input_shape[0] if batch_first else input_shape[1]
    weight_shapes = []
    for layer in range(num_layers):
        for direction in range(D):
            weight_shapes += [(G, F if layer == 0 else D * H), (G, H), (G,), (G,)]
    num_params = sum(rows * (columns[0] if columns else 1) for rows, *columns in weight_shapes)
    return (*input_shape[:2], D * H), (num_layers * D, B, H), weight_shapes, num_params
'''

# Right too, written differently: tuple arithmetic on input_shape, lists, torch.Size, math.prod, a namedtuple.
MLP_TUPLES = MLP.replace("tuple(input_shape[:-1]) + (sizes[-1],)", "input_shape[:-1] + (sizes[-1],)")
UNUSUAL_RIGHT = {
    "mlp_shapes": '''
import math
from collections import namedtuple
Shapes = namedtuple("Shapes", "output_shape weight_shapes num_params")

def mlp_shapes(input_shape, sizes):
    layers = list(zip(sizes[:-1], sizes[1:]))
    weight_shapes = [shape for n_in, n_out in layers for shape in ([n_out, n_in], [n_out])]
    return Shapes(torch.Size([*input_shape[:-1], sizes[-1]]), weight_shapes,
                  sum(math.prod(s) for s in weight_shapes))
''',
    "conv2d_shapes": '''
import math

def conv2d_shapes(input_shape, out_channels, kernel_size, stride, padding, dilation, groups):
    B, C, *sides = input_shape
    span = dilation * (kernel_size - 1) + 1
    out = [math.floor((n + 2 * padding - span) / stride) + 1 for n in sides]
    weight = [out_channels, C // groups, kernel_size, kernel_size]
    return [[B, out_channels, *out], [weight, [out_channels]], math.prod(weight) + out_channels]
''',
}

# The common mistakes, by gru_ref.reference.shapes_mistakes name: (function, the right answer with one change).
WRONG = {
    "mlp_bias_missing": ("mlp_shapes", MLP.replace("[(n_out, n_in), (n_out,)]", "[(n_out, n_in)]")
                         .replace("n_in * n_out + n_out", "n_in * n_out")),
    "mlp_weight_in_out": ("mlp_shapes", MLP.replace("(n_out, n_in), (n_out,)", "(n_in, n_out), (n_out,)")),
    "mlp_leading_axes_dropped": ("mlp_shapes", MLP.replace("tuple(input_shape[:-1])", "tuple(input_shape[:1])")),
    "conv_dilation_ignored": ("conv2d_shapes", CONV.replace("- dilation * (kernel_size - 1)", "- (kernel_size - 1)")),
    "conv_padding_one_side": ("conv2d_shapes", CONV.replace("size + 2 * padding", "size + padding")),
    "conv_rounded_up": ("conv2d_shapes", CONV.replace("return (size", "return -(-(size").replace("// stride + 1",
                                                                                                 "// stride) + 1")),
    "conv_plus_one_missing": ("conv2d_shapes", CONV.replace("// stride + 1", "// stride")),
    "conv_in_channels_out": ("conv2d_shapes", CONV.replace("(B, out_channels, side(height)", "(B, C, side(height)")),
    "conv_height_width_swapped": ("conv2d_shapes", CONV.replace("side(height), side(width)",
                                                                "side(width), side(height)")),
    "conv_groups_ignored": ("conv2d_shapes", CONV.replace("C // groups", "C")),
    "conv_bias_missing": ("conv2d_shapes", CONV.replace("[weight, (out_channels,)]", "[weight]")
                          .replace("kernel_size + out_channels", "kernel_size")),
    "conv_kernel_counted_once": ("conv2d_shapes", CONV.replace("kernel_size * kernel_size + out_channels",
                                                               "kernel_size + out_channels")),
    "rnn_gate_blocks": ("rnn_shapes", RNN.replace('3 * H if kind == "GRU" else H', '3 * H if kind == "RNN" else H')),
    "rnn_one_bias": ("rnn_shapes", RNN.replace("(G, H), (G,), (G,)]", "(G, H), (G,)]")),
    "rnn_upper_layers_read_the_input": ("rnn_shapes", RNN.replace("F if layer == 0 else D * H", "F")),
    "rnn_upper_layers_read_one_direction": ("rnn_shapes", RNN.replace("F if layer == 0 else D * H",
                                                                      "F if layer == 0 else H")),
    "rnn_reverse_weights_missing": ("rnn_shapes", RNN.replace("for direction in range(D)",
                                                              "for direction in range(1)")),
    "rnn_output_one_direction": ("rnn_shapes", RNN.replace("(*input_shape[:2], D * H)", "(*input_shape[:2], H)")),
    "rnn_output_always_batch_first": ("rnn_shapes", RNN.replace(
        "(*input_shape[:2], D * H)", "(B, input_shape[1] if batch_first else input_shape[0], D * H)")),
    "rnn_batch_read_from_axis_0": ("rnn_shapes", RNN.replace("input_shape[0] if batch_first else input_shape[1]",
                                                             "input_shape[0]")),
    "rnn_h_n_batch_first": ("rnn_shapes", RNN.replace(
        "(num_layers * D, B, H)", "(B, num_layers * D, H) if batch_first else (num_layers * D, B, H)")),
    "rnn_h_n_one_row_per_layer": ("rnn_shapes", RNN.replace("(num_layers * D, B, H)", "(num_layers, B, H)")),
    "rnn_h_n_top_layer_only": ("rnn_shapes", RNN.replace("(num_layers * D, B, H)", "(D, B, H)")),
    "rnn_parameter_order": ("rnn_shapes", RNN.replace("[(G, F if layer == 0 else D * H), (G, H), (G,), (G,)]",
                                                      "[(G, F if layer == 0 else D * H), (G,), (G, H), (G,)]")),
}

# Reading the answer off the modules themselves: no credit.
CHEATS = {
    "mlp_shapes": '''
def mlp_shapes(input_shape, sizes):
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    params = list(model.parameters())
    output = model(torch.zeros(input_shape))
    return tuple(output.shape), [tuple(p.shape) for p in params], sum(p.numel() for p in params)
''',
    "conv2d_shapes": '''
def conv2d_shapes(input_shape, out_channels, kernel_size, stride, padding, dilation, groups):
    conv = nn.Conv2d(input_shape[1], out_channels, kernel_size, stride, padding, dilation, groups, device="meta")
    out = conv(torch.empty(input_shape, device="meta"))
    return tuple(out.shape), [tuple(p.shape) for p in conv.parameters()], sum(p.numel() for p in conv.parameters())
''',
    "rnn_shapes": '''
def rnn_shapes(kind, input_shape, hidden_size, num_layers, bidirectional, batch_first):
    layer = getattr(nn, kind)(input_shape[2], hidden_size, num_layers, bidirectional=bidirectional,
                              batch_first=batch_first, device="meta")
    output, h_n = layer(torch.empty(input_shape, device="meta"))
    params = list(layer.parameters())
    return tuple(output.shape), tuple(h_n.shape), [tuple(p.shape) for p in params], sum(p.numel() for p in params)
''',
}

# Answers whose return value is built to break the reading of it, by function.
HOSTILE = {
    "a shape whose __len__ and __iter__ lie": '''
class Liar(tuple):
    def __len__(self):
        return 10 ** 9
    def __iter__(self):
        raise RuntimeError("read me")
    def __getitem__(self, i):
        return 7
''' + CONV.replace("return (B, out_channels, side(height), side(width))",
                   "return Liar((B, out_channels, side(height), side(width)))"),
    "a count whose __index__ and __int__ lie": '''
class Seven(int):
    def __index__(self):
        raise RuntimeError("read me")
    def __int__(self):
        return 7
    def __eq__(self, other):
        return True
''' + CONV.replace("kernel_size * kernel_size + out_channels", "kernel_size * kernel_size * 0 + Seven(1)"),
    "an infinite generator as a shape": '''
import itertools
''' + CONV.replace("(B, out_channels, side(height), side(width)), [weight", "itertools.count(), [weight"),
    "a float from true division": CONV.replace("// stride + 1", "/ stride + 1"),
    "a shape nested a million deep": '''
DEEP = 1
for _ in range(10 ** 6):
    DEEP = [DEEP]
''' + CONV.replace("[weight, (out_channels,)]", "[weight, DEEP]"),
}
