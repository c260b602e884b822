"""The wrong multi-layer, bidirectional GRUs of the gru_layers assignment, computed for real over
torch's own GRU cell, each with its lesson.

Kept apart from its assignment (gru_ref.assignments): the wrong loops here are, knob for knob, the whole answer to
gru_layers, so this module stays with the instructors and the grader, and the learners' checker
(book/_ext/learner_edition.py) ships without it: there, gru_layers diagnoses no mistake by name.
"""
from dataclasses import dataclass

import torch

from gru_ref.judge.mistakes import _unroll

RIGHT_LAYERS_KNOBS = {"rereverse": True, "reverse_reads": True, "cat_order": "forward_first", "feed": "below",
                      "h_n_order": "layer_major", "reverse_h_n": "final"}


def _layers(input, h0, weights, num_layers, bidirectional, batch_first, *, rereverse, reverse_reads,
            cat_order, feed, h_n_order, reverse_h_n):
    """gru_layers with one knob per common mistake (LayersMistake turns at least one), over torch's
    own GRU cell."""
    D = 2 if bidirectional else 1
    x = input if batch_first else input.transpose(0, 1)  # (B, T, F)
    rows, first = [None] * (num_layers * D), x
    for layer in range(num_layers):
        outputs = []
        for direction in range(D):
            k = layer * D + direction
            row = k if h_n_order == "layer_major" else direction * num_layers + layer
            steps = x.flip(1) if direction and reverse_reads else x
            output, h = _unroll(torch.gru_cell, steps, h0[row], *weights[4 * k:4 * k + 4])
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
        knobs = {**RIGHT_LAYERS_KNOBS, **self.knobs}
        if knobs == RIGHT_LAYERS_KNOBS:
            raise ValueError("a mistake needs at least one knob turned away from nn.GRU")
        return _layers(*args, **knobs)


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
