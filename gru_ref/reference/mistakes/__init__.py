"""The recurrent exercises' known mistakes, computed for real: the wrong GRU and RNN steps, the wrong
one-step gradient, the wrong loops over a step and the wrong layers. Knob for knob, this code is the
whole answer to `gru_cell`, `my_gru`, `gru_cell_grad`, `my_rnn` and `my_gru_layers`, so it stays with
the instructors and the grader: neither the grading box nor the learners' wheel holds it
(tests/test_layout.py). The assignments (gru_ref.assignments) keep each mistake's name, lesson and
knobs, as data; the learners' checker names a mistake from a table of these mistakes' outputs on fixed
cases, made when the wheel is built (gru_ref.judge.mistake_table).
    steps    the GRU step, its gradient and the tanh RNN step, each with one knob per mistake
    loops    the wrong loops any step can be put in
    layers   nn.GRU's layers and directions, with one knob per mistake
"""
import torch

from gru_ref.reference.mistakes import layers, loops, steps

# What a task's mistake is made of: its wrong step (knobs) over a right loop, or a wrong loop over
# torch's own step (the judge's truth), per task.
STEPS = {"my_gru": (steps.gru_step, torch.gru_cell), "my_rnn": (steps.rnn_step, torch.rnn_tanh_cell)}


def run(task, mistake, inputs, case):
    """The outputs of `mistake` (one of task.mistakes) on a case's inputs, as a tuple."""
    args = [inputs[n] for n in task.arg_names_for(case)]
    if task.name == "gru_cell":
        return (steps.gru_step(*args, **mistake.knobs),)
    if task.name == "gru_cell_grad":
        return (steps.gru_step_grad(*args, **mistake.knobs),)
    if task.name == "my_gru_layers":
        return layers.layers(args[0], args[1], args[2:], case.layers, case.bidirectional, case.batch_first,
                             **mistake.knobs)
    wrong_step, right_step = STEPS[task.name]
    if mistake.loop:
        return loops.LOOPS[mistake.loop](*args, cell=right_step)
    return loops.unroll(lambda *step_args: wrong_step(*step_args, **mistake.knobs), *args)


def function(task, mistake):
    """The mistake as a learner's function of the task's own signature (for tests and tools)."""
    from gru_ref.judge.cases import Case

    def wrong(*args):
        if task.name == "my_gru_layers":
            input, h0, weights, num_layers, bidirectional, batch_first = args
            case = Case(1, 1, 1, 1, layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
            args = (input, h0, *weights)
        else:
            case = Case(1, 1, 1, 1)
        outputs = run(task, mistake, dict(zip(task.arg_names_for(case), args)), case)
        return outputs[0] if len(task.output_names) == 1 else outputs
    return wrong
