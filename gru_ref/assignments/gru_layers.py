"""The `gru_layers` assignment: my_gru_layers, all of nn.GRU (layers, directions, layouts), checked
against torch.nn.GRU; its known mistakes, each with its lesson and its knobs (a layers mistake, or a
wrong step of the `gru` assignment and the directions where it is used); and the words of its messages.

This module ships to learners with the checker, so that their own check names a layers mistake as the
grader does. It holds no callable right answer, nor a wrong one a deleted line would make right: the
code that computes a layers mistake is the instructors' (gru_ref.reference.mistakes.layers), and the
learners' checker compares the learner's outputs on the fixed diagnosis cases below with the mistakes'
outputs there (gru_ref.judge.mistake_table).
"""
from torch import nn

from gru_ref.assignments.gru import CELL_MISTAKES, SequenceTask
from gru_ref.judge.cases import Case
from gru_ref.judge.mistakes import Mistake

LAYERS_MISTAKES = (
    Mistake("reverse_not_rereversed",
            "The reverse direction's outputs are in the order it computed them: output[:, t] holds "
            "the state after it read x_{T-1} ... x_{T-1-t}. Flip them back in time (.flip(1)) before "
            "putting them beside the forward ones: output[:, t] of the reverse direction is its state "
            "after reading x_t (from the end).",
            knobs={"rereverse": False}),
    Mistake("reverse_reads_forward",
            "The reverse direction reads the sequence from its start. It reads it from its end: run "
            "it on input.flip(1) (time reversed), then flip its outputs back.",
            knobs={"reverse_reads": False}),
    Mistake("directions_concatenated_reverse_first",
            "The directions are side by side in the wrong order: nn.GRU puts the forward direction "
            "first, output[..., :H], and the reverse one after it, output[..., H:].",
            knobs={"cat_order": "reverse_first"}),
    Mistake("layers_fed_the_input",
            "Every layer reads the sequence's input. Layer l > 0 reads the output of layer l - 1 "
            "(both directions side by side, D * H wide), not the input.",
            knobs={"feed": "input"}),
    Mistake("h_n_direction_major",
            "h0 and h_n are in the wrong order. nn.GRU's rows are layer by layer, and within a layer "
            "forward then reverse: row layer * num_directions + direction.",
            knobs={"h_n_order": "direction_major"}),
    Mistake("reverse_h_n_at_last_step",
            "h_n of the reverse direction is taken at the last time step, where it has read one "
            "input only. Its final state is the one after reading the whole sequence, back to x_0: "
            "output[:, 0, H:] of that layer, not output[:, -1, H:].",
            knobs={"reverse_h_n": "last_step"}),
)

WHERE_A_STEP_SHOWS = {"every": "in every layer and both directions (your step, used everywhere)",
                      "forward": "in the forward direction only (the reverse one is right)",
                      "reverse": "in the reverse direction only (the forward one is right)"}
# A mistake of the step itself, inside the layers: named as the gru assignment names it, with where it shows.
STEP_MISTAKES = tuple(
    Mistake(m.name if where == "every" else f"{m.name}_{where}_only",
            f"{m.lesson} It shows {WHERE_A_STEP_SHOWS[where]}: check the GRU step your layers call.",
            knobs={"cell": m.name, "cell_in": where})
    for m in CELL_MISTAKES for where in WHERE_A_STEP_SHOWS)


class LayersTask(SequenceTask):
    """my_gru_layers(input, h0, weights, num_layers, bidirectional, batch_first) -> (output, h_n):
    all of nn.GRU, with `weights` in nn.GRU's own parameter order."""
    name = "my_gru_layers"
    output_names = ("output", "h_n")
    returns = "a tuple (output, h_n)"
    mistakes = LAYERS_MISTAKES + STEP_MISTAKES
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

    # Both layouts, two layers, two directions and F == num_directions * H: every layers mistake shows,
    # and a step's mistake in either direction.
    diagnosis_cases = (Case(2, 3, 6, 3, layers=2, bidirectional=True),
                       Case(2, 3, 6, 3, layers=2, bidirectional=True, batch_first=False))

    # The first quick case has F == num_directions * H, so that "every layer reads the input" runs there
    # and can be named (elsewhere it fails on shapes, with the layout hint).
    parts = {
        "contract": (Case(2, 3, 4, 5, "float32", values=False, layers=2, bidirectional=True, batch_first=False),
                     Case(1, 2, 3, 2, values=False), Case(1, 2, 3, 2, device="meta", values=False)),
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


TASKS = (LayersTask(),)
