"""The `shapes` assignment attacked as a hostile learner would, end to end through nbgrader in one batch.

The rule these functions live under, "no torch while checked", is enforced in the learner's own
process (gru_ref.learner.sandbox._TorchOps), so each route around the record of torch operators either fails
the check there or is flagged for manual review by the integrity scan; hostile return values fail
alone, with a reason; and an answer right on the visible cases but wrong on a hidden one keeps only
the points of what it got right."""
import re

import pytest
import torch

import course_e2e
from gru_ref.learner import shape_answers
from hostile_code import PATCH_RECORDER
from shapes_code import CHEATS, CONV, MLP, RNN

ASSIGNMENT = "shapes"
FULL, PER_FUNCTION, VALUES_POINTS = 9.0, 3.0, 2.0

SIGNATURES = {"mlp_shapes": "(input_shape, sizes)",
              "conv2d_shapes": "(input_shape, out_channels, kernel_size, stride, padding, dilation, groups)",
              "rnn_shapes": "(kind, input_shape, hidden_size, num_layers, bidirectional, batch_first)"}


def around(function, setup, body):
    """An answer cell: `setup`, the module-reading shortcut as read_off_the_module, then `function`
    whose `body` gets the answer with `ANSWER` (a call of the shortcut) its own way."""
    shortcut = CHEATS[function].replace(f"def {function}(", "def read_off_the_module(")
    call = "read_off_the_module" + SIGNATURES[function]
    return f"{setup}\n{shortcut}\ndef {function}{SIGNATURES[function]}:\n{body.replace('ANSWER', call)}\n"


# Routes around the record of torch operators that the learner's process itself stops. (Not in
# rnn_shapes: there the switched-off nn.RNN and nn.GRU refuse to run whatever the record says.)
STOPPED = {
    # The profiler's class patched, so that a `with profile()` records nothing.
    "mlp_shapes": around("mlp_shapes", '''
from torch.autograd import profiler as P
class Nothing:
    def events(self):
        return []
def leave(self, *exc):
    self.kineto_results = Nothing()
P.profile.__enter__ = lambda self: self
P.profile.__exit__ = leave''', "    return ANSWER"),
    # The module built in a worker thread started before the check (in the box, checks run in the
    # notebook's own process: the thread is there).
    "conv2d_shapes": around("conv2d_shapes", '''
import asyncio
loop = asyncio.new_event_loop()
loop.run_until_complete(loop.run_in_executor(None, lambda: None))  # the worker thread starts now''',
                            "    return loop.run_until_complete(loop.run_in_executor(None, lambda: ANSWER))"),
    "rnn_shapes": RNN,
}
STOPPED_TOO = {
    # The profiler stopped inside the function.
    "mlp_shapes": around("mlp_shapes", "", '''    torch.autograd.profiler._disable_profiler()
    return ANSWER'''),
    # The profiler's module-level function rebound: it stops the profiler and hands back nothing.
    "conv2d_shapes": around("conv2d_shapes", '''
from torch.autograd import profiler as P
class Nothing:
    def events(self):
        return []
stop = P._disable_profiler
P._disable_profiler = lambda: (stop(), Nothing())[1]''', "    return ANSWER"),
    "rnn_shapes": RNN,
}
# Routes the process cannot see: the scan flags each for manual review.
UNSEEN = {
    # Record functions switched off in the function's own thread, and on again before it returns.
    "mlp_shapes": around("mlp_shapes", "", '''    torch.autograd._enable_record_function(False)
    answer = ANSWER
    torch.autograd._enable_record_function(True)
    return answer'''),
    # torch's own shape rule, plain Python: no operator runs.
    "conv2d_shapes": '''
from types import SimpleNamespace
from torch import _meta_registrations as rules

def conv2d_shapes(input_shape, out_channels, kernel_size, stride, padding, dilation, groups):
    cpu = SimpleNamespace(type="cpu")
    B, C, height, width = input_shape
    weight = (out_channels, C // groups, kernel_size, kernel_size)
    output = rules.calc_conv_nd_return_shape(SimpleNamespace(shape=input_shape, device=cpu),
                                             SimpleNamespace(shape=weight, device=cpu),
                                             stride, padding, dilation, False, groups)
    return tuple(output), [weight, (out_channels,)], out_channels * (C // groups) * kernel_size ** 2 + out_channels
''',
    "rnn_shapes": RNN,
}
# The function's own answers, read off the module, written as a check's result straight into the grader's
# channel before the checker sends the real one (whose record names the torch it ran). With gru_ref's
# own helpers here for brevity; by hand it takes a few more lines and no flagged name.
FORGED_RESULTS = CHEATS["conv2d_shapes"].replace("def conv2d_shapes(", "def read_off_the_module(") + '''
import os, stat
from gru_ref.learner import results, sandbox, shape_answers
from gru_ref.grading import frames
LAYOUT = [["output_shape", "shape"], ["weight_shapes", "shapes"], ["num_params", "count"]]
CHECKS = [("test_conv2d_shapes_contract/0", 2), ("test_conv2d_shapes_values/0", 6), ("test_conv2d_shapes_values/1", 28)]
answers = []

def channel():
    for name in os.listdir("/proc/self/fd"):
        try:
            if stat.S_ISSOCK(os.fstat(int(name)).st_mode):
                return int(name)
        except OSError:
            pass

def conv2d_shapes(input_shape, out_channels, kernel_size, stride, padding, dilation, groups):
    answers.append(read_off_the_module(input_shape, out_channels, kernel_size, stride, padding, dilation, groups))
    end = 0
    for check, count in CHECKS:
        end += count
        if len(answers) == end:  # this check's last case: its result, as the checker would write it, unseen
            records = [{"status": "ok", "outputs": outputs, "returned": [sandbox.describe(t) for t in outputs]}
                       for outputs in (shape_answers.encode(a, LAYOUT) for a in answers[end - count:end])]
            data, descriptions = results.encode(records)
            frames.send(channel(), {"type": "result", "check": check, "descriptions": descriptions,
                                    "status": {"timed_out": False, "missing": False, "progress": 0}})
            frames.send(channel(), data)
    return answers[-1]
'''


SUBMISSIONS = {
    "recorder_patched": {"mlp_shapes": around("mlp_shapes", PATCH_RECORDER, "    return ANSWER"),
                         "conv2d_shapes": around("conv2d_shapes", PATCH_RECORDER, "    return ANSWER"), "rnn_shapes": RNN},
    "record_stopped": STOPPED,
    "record_stopped_too": STOPPED_TOO,
    "record_unseen": UNSEEN,
    "forged_results": {"mlp_shapes": MLP, "conv2d_shapes": FORGED_RESULTS, "rnn_shapes": RNN},
    # conv2d_shapes right on every visible configuration, wrong on a hidden fixed one (groups=8: the
    # random draws stop at 4); mlp_shapes with a negative axis, an int like any other.
    "right_on_quick_only": {"mlp_shapes": MLP.replace("+ (sizes[-1],)", "+ (-sizes[-1],)"), "rnn_shapes": RNN,
                            "conv2d_shapes": CONV.replace("C // groups", "(C // groups if groups < 8 else C)")},
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    released = course_e2e.release(tmp_path_factory.mktemp("course_shapes_hostile"), ASSIGNMENT)
    graded = course_e2e.grade(released.parents[2], ASSIGNMENT, released, SUBMISSIONS)
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{graded['root'] / 'gradebook.db'}") as gradebook:
        submissions = gradebook.assignment_submissions(ASSIGNMENT)
        graded["review"] = {s.student.id: s.needs_manual_grade for s in submissions}
        graded["flags"] = {s.student.id: "\n".join(c.auto_comment or "" for n in s.notebooks for c in n.comments)
                           for s in submissions}
    return graded


def outputs(graded, student):
    return course_e2e.outputs(graded, ASSIGNMENT, student)


def test_the_solution_gets_full_marks_and_no_flag(graded):
    assert graded["scores"]["instructor"] == FULL, outputs(graded, "instructor")
    assert not graded["review"]["instructor"], graded["flags"]["instructor"]


@pytest.mark.parametrize("student", ["record_stopped", "record_stopped_too"])
def test_routes_around_the_record_of_torch_operators_earn_nothing_and_are_flagged(graded, student):
    result = outputs(graded, student)
    assert graded["scores"][student] == PER_FUNCTION, result  # rnn_shapes, right
    for function, seen in (("mlp", "stopped the grader's record" if student == "record_stopped_too" else
                            "ran torch operators"), ("conv2d", "ran torch operators")):
        for part in ("contract", "values"):
            text = result[f"test_{function}_shapes_{part}"]
            assert seen in text and "earns no credit" in text, (function, part, text)
    flags = graded["flags"][student]
    for line in {"record_stopped": ("import asyncio  <- imports asyncio: threads",),
                 "record_stopped_too": ("torch.autograd.profiler._disable_profiler()  <- uses ._disable_profiler",
                                        "P._disable_profiler = lambda: (stop(), Nothing())[1]  <- uses "
                                        "._disable_profiler")}[student]:
        assert line in flags, flags


def test_a_record_of_torch_operators_replaced_in_the_grader_earns_nothing(graded):
    result = outputs(graded, "recorder_patched")
    assert graded["scores"]["recorder_patched"] == 0, result  # rnn_shapes, right, checked with the grader changed
    for function in ("mlp", "conv2d", "rnn"):
        for part in ("contract", "values"):
            assert "the grader's own code was changed" in result[f"test_{function}_shapes_{part}"], result


def test_what_the_process_cannot_see_is_flagged_for_review(graded):
    assert graded["scores"]["record_unseen"] == FULL  # switched off around its torch calls; torch's rule in Python
    flags = graded["flags"]["record_unseen"]
    for line in ("torch.autograd._enable_record_function(False)  <- uses ._enable_record_function: the profiler",
                 "from torch import _meta_registrations as rules  <- imports _meta_registrations from torch"):
        assert line in flags, flags


def test_results_written_into_the_grader_s_channel_void_the_check_and_stop_the_notebook(graded):
    result = outputs(graded, "forged_results")
    assert graded["scores"]["forged_results"] == PER_FUNCTION, result  # mlp_shapes, checked before
    assert "received its results twice, once from the notebook's own code" in result["test_conv2d_shapes_contract"]
    assert "was not checked" in result["test_rnn_shapes_values"]


def test_right_on_the_visible_cases_wrong_on_a_hidden_one_keeps_the_contract_point(graded):
    result = outputs(graded, "right_on_quick_only")
    assert graded["scores"]["right_on_quick_only"] == FULL - 2 * VALUES_POINTS
    message = result["test_conv2d_shapes_values"]
    # One configuration named, the one that failed; no list of the others to fit.
    assert message.count("On a case with") == 1 and "groups=8" in message
    assert "weight_shapes[0] is (8, 8, 1, 1); nn.Conv2d's parameter 0 is (8, 1, 1, 1)" in message
    assert "Passed:" in result["test_mlp_shapes_contract"] and "The first wrong axis is output_shape[" in \
        result["test_mlp_shapes_values"]


def test_numbers_no_size_can_be_are_refused_with_a_reason():
    layout = [("output_shape", "shape"), ("weight_shapes", "shapes"), ("num_params", "count")]
    looped, answer_in_itself = [], [None, [], 1]
    looped.append(looped)
    answer_in_itself[0] = answer_in_itself
    for answer, reason in ((((1,), [], 10 ** 30), "num_params is an int with 100 bits: far too large"),
                           (((1,), looped, 1), "weight_shapes[0][0] is a list, not an int"),
                           (answer_in_itself, "output_shape[0] is a list, not an int"),
                           (((-(1 << 62),), [], 1), "output_shape[0] is an int with 63 bits")):
        with pytest.raises(shape_answers.Unreadable, match=re.escape(reason)):
            shape_answers.encode(answer, layout)


def test_the_record_sees_every_thread_and_its_own_stopping():
    """In-process, as the grading box runs it: a thread started before, a profiler stopped, a profiler
    stopped and started again, a profiler left running by an earlier cell."""
    import threading
    from torch.autograd import profiler
    from gru_ref.learner import sandbox
    jobs, done = [], threading.Event()
    worker = threading.Thread(target=lambda: (done.wait(), jobs.append(torch.zeros(2) + 1)), daemon=True)
    worker.start()
    with sandbox._TorchOps() as ops:
        done.set()
        worker.join()
    assert "aten::add" in ops.names
    with sandbox._TorchOps() as ops:
        profiler._disable_profiler()
    assert ops.names == {sandbox._TorchOps.STOPPED}
    with sandbox._TorchOps() as ops:
        profiler._disable_profiler()
        with profiler.profile():
            pass
        with sandbox._TorchOps() as inner:  # a fresh one of ours, started after: not the first one
            pass
    assert ops.names == {sandbox._TorchOps.STOPPED} and inner.names == set()
    with profiler.profile():
        with sandbox._TorchOps() as ops:
            torch.ones(1)
    assert "aten::ones" in ops.names
    with sandbox._TorchOps() as ops:
        pass
    assert ops.names == set()
