"""nn.GRU's layers and directions with one knob per common mistake, over torch's own GRU cell (or a
wrong step of the gru assignment, in the directions `cell_in` names)."""
import torch

from gru_ref.assignments.gru import CELL_MISTAKES
from gru_ref.reference.mistakes.loops import unroll
from gru_ref.reference.mistakes.steps import gru_step

RIGHT_LAYERS_KNOBS = {"rereverse": True, "reverse_reads": True, "cat_order": "forward_first", "feed": "below",
                      "h_n_order": "layer_major", "reverse_h_n": "final", "cell": "right", "cell_in": "every"}
WRONG_STEP_KNOBS = {m.name: m.knobs for m in CELL_MISTAKES}  # the gru assignment's wrong steps, by name


def layers(input, h0, weights, num_layers, bidirectional, batch_first, **knobs):
    """(output, h_n) of nn.GRU with mistakes in it. Refuses unless a turned knob changed something."""
    knobs = {**RIGHT_LAYERS_KNOBS, **knobs}
    if knobs.keys() != RIGHT_LAYERS_KNOBS.keys():
        raise ValueError("unknown knob")
    D = 2 if bidirectional else 1
    x = input if batch_first else input.transpose(0, 1)  # (B, T, F)
    rows, first, wrong = [None] * (num_layers * D), x, False
    for layer in range(num_layers):
        outputs = []
        for direction in range(D):
            k = layer * D + direction
            row = k if knobs["h_n_order"] == "layer_major" else direction * num_layers + layer
            step = torch.gru_cell
            if knobs["cell"] != "right" and knobs["cell_in"] in ("every", ("forward", "reverse")[direction]):
                step_knobs, wrong = WRONG_STEP_KNOBS[knobs["cell"]], True
                step = lambda *args, step_knobs=step_knobs: gru_step(*args, **step_knobs)  # noqa: E731
            reads = not direction or knobs["reverse_reads"]
            steps = x.flip(1) if direction and reads else x
            output, h = unroll(step, steps, h0[row], *weights[4 * k:4 * k + 4])
            flip_back = direction and knobs["rereverse"] and reads
            if direction and knobs["reverse_h_n"] == "last_step":
                h, wrong = (output.flip(1) if flip_back else output)[:, -1], True
            outputs.append(output.flip(1) if flip_back else output)
            rows[row] = h
            wrong |= bool(direction and not (knobs["rereverse"] and reads)) or row != k
        if knobs["cat_order"] == "reverse_first" and D == 2:
            outputs.reverse()
            wrong = True
        x = torch.cat(outputs, dim=-1)  # (B, T, D * H)
        if knobs["feed"] == "input" and layer < num_layers - 1:  # every layer reads the input (shapes allowing)
            x, wrong = first, True
    if not wrong:
        raise ValueError("a mistake needs a knob turned away from nn.GRU that changes something here")
    return (x if batch_first else x.transpose(0, 1)), torch.stack(rows)
