"""The `shapes` assignment's checker, below nbgrader: an answer's source in, verdict and message out;
and its parts: the random configurations, the reading of an answer, the judge's ruling on what came back."""
import pytest
import torch

from gru_ref import check_conv2d_shapes, judge
from gru_ref.assignments.shapes import diagnose as shape_diagnose, tasks as shape_tasks
from gru_ref.learner import results, shape_answers
from gru_ref.learner.check import judge_function
from gru_ref.reference.shapes_mistakes import SHAPE_MISTAKES

from conftest import define
from shapes_code import CHEATS, CONV, HOSTILE, MLP, MLP_TUPLES, RNN, UNUSUAL_RIGHT, WRONG

ALL_PARTS = ("contract", "quick", "values")
RIGHT = {"mlp_shapes": MLP, "conv2d_shapes": CONV, "rnn_shapes": RNN}
TASKS = {task.name: task for task in shape_tasks.TASKS}
LESSONS = {m.name: m.lesson for m in SHAPE_MISTAKES}
pytestmark = pytest.mark.usefixtures("forks_cleanly")


def verdict(function, source, parts=ALL_PARTS, **kwargs):
    return judge_function(function, define(source)[function], parts, **kwargs)


@pytest.mark.parametrize("function, source", [*RIGHT.items(), ("mlp_shapes", MLP_TUPLES), *UNUSUAL_RIGHT.items()],
                         ids=[*RIGHT, "mlp_shapes (input_shape is a tuple, as documented)",
                              *(f"{f} (lists, torch.Size, a namedtuple)" for f in UNUSUAL_RIGHT)])
def test_right_answers_pass_every_part(function, source):
    result = verdict(function, source)
    assert result["passed"], result["message"]
    assert "output shape, parameter shapes and parameter count" in result["message"]


def test_the_notebook_api_prints_and_raises(capsys):
    check_conv2d_shapes(define(CONV)["conv2d_shapes"], "contract")
    check_conv2d_shapes(define(CONV)["conv2d_shapes"])
    out = capsys.readouterr().out
    assert "Passed: conv2d_shapes returns a tuple (output_shape, weight_shapes, num_params) in the expected" in out
    assert "Passed: conv2d_shapes matches torch.nn.Conv2d" in out
    with pytest.raises(AssertionError, match="conv2d_shapes is not a function"):
        check_conv2d_shapes(None)


def test_every_known_mistake_has_an_answer_here():
    assert set(WRONG) == set(LESSONS)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_each_common_mistake_fails_with_its_own_lesson(name):
    function, source = WRONG[name]
    assert verdict(function, source, ("contract",))["passed"], "a mistake of numbers keeps the contract points"
    result = verdict(function, source, ("quick", "values"))
    assert not result["passed"]
    assert LESSONS[name] in result["message"]
    assert result["message"].startswith("On a case with ")


@pytest.mark.parametrize("name, words", [
    ("conv_dilation_ignored", "The first wrong axis is output_shape[2], H_out (the height): you gave 8, "
                              "nn.Conv2d gives 7."),
    ("conv_groups_ignored", "weight_shapes[0] is (6, 4, 3, 3); nn.Conv2d's parameter 0 is (6, 2, 3, 3)"),
    ("conv_kernel_counted_once", "num_params is 160; nn.Conv2d has 448 parameters"),
    ("mlp_leading_axes_dropped", "output_shape has 2 axes, (4, 5); the nn.Linear stack's has 3: "
                                 "(input_shape[0], input_shape[1], sizes[-1])"),
    ("rnn_upper_layers_read_the_input", "weight_shapes[8] is (18, 4); nn.GRU's parameter 8 is (18, 12): it is "
                                        "weight_ih_l1, the input weight of layer 1"),
    ("rnn_one_bias", "weight_shapes has 12 entries; nn.GRU's parameters() gives 16: weight_ih_l0, weight_hh_l0, "
                     "bias_ih_l0, bias_hh_l0"),
    ("rnn_output_always_batch_first", "The first wrong axis is output_shape[0], T (the time steps): you gave 2, "
                                      "nn.RNN gives 7."),
    ("rnn_h_n_batch_first", "h_n_shape is (3, 4, 6); nn.GRU gives (4, 3, 6)"),
])
def test_messages_name_the_wrong_axis_parameter_or_term(name, words):
    function, source = WRONG[name]
    assert words in verdict(function, source, ("quick",))["message"]


def test_without_the_graders_mistakes_the_message_still_names_the_axis(monkeypatch):
    """The learners' checker ships without gru_ref.reference.shapes_mistakes: no lesson by name, the axis and the rule."""
    monkeypatch.setattr(shape_diagnose, "SHAPE_MISTAKES", ())
    task, case = TASKS["conv2d_shapes"], shape_tasks.ShapeCase(((2, 4, 15, 10), 6, 3, 2, 1, 2, 2))
    answer = define(WRONG["conv_dilation_ignored"][1])["conv2d_shapes"](*case.args)
    outputs = shape_answers.encode(answer, task.call_spec(case)["answer"])
    record = {"status": "ok", "outputs": outputs, "returned": [("Tensor", tuple(t.shape), "int64", "cpu")
                                                               for t in outputs]}
    message = shape_diagnose.rule_case(task, case, record)
    assert "output_shape[2], H_out (the height): you gave 8, nn.Conv2d gives 7" in message
    assert "dilation * (kernel_size - 1)" in message and "Most likely mistake" not in message


@pytest.mark.parametrize("function", sorted(CHEATS))
def test_reading_the_answer_off_the_module_gets_no_credit(function):
    for parts in (("contract",), ("quick",)):
        result = verdict(function, CHEATS[function], parts)
        assert not result["passed"]
        assert "ran torch operators (aten::" in result["message"] and "earns no credit" in result["message"]


def test_torch_arithmetic_counts_as_torch_too():
    source = CONV.replace("return (B, out_channels", "num_params = int(torch.tensor(num_params))\n"
                                                     "    return (B, out_channels")
    result = verdict("conv2d_shapes", source, ("contract",))
    assert not result["passed"] and "ran torch operators" in result["message"]


@pytest.mark.parametrize("returned, words", [
    ("(B, out_channels, side(height), side(width)), [weight, (out_channels,)]",
     "must return a tuple (output_shape, weight_shapes, num_params), but the return value has 2 item(s); it must "
     "have exactly 3"),
    ("None", "the return value is None, not a tuple (output_shape, weight_shapes, num_params)"),
    ("(B, out_channels, side(height), side(width)), [weight, out_channels], num_params",
     "weight_shapes[1] is an int, not a tuple of ints. A shape is a tuple even with one axis: (n,), not n."),
    ("(B, out_channels, side(height), side(width)), [weight, (out_channels,)], num_params > 0",
     "num_params is a bool (True), not an int."),
    ("torch.Size([B, out_channels, side(height), side(width)]), [weight, (out_channels,)], float(num_params)",
     "num_params is a float"),
])
def test_answers_of_the_wrong_form_fail_with_what_to_change(returned, words):
    source = CONV.replace("(B, out_channels, side(height), side(width)), [weight, (out_channels,)], num_params",
                          returned)
    result = verdict("conv2d_shapes", source, ("contract",))
    assert not result["passed"] and words in result["message"], result["message"]


def test_the_untouched_stub_is_told_to_write_the_function():
    source = "def conv2d_shapes(*args):\n    raise NotImplementedError()"
    assert "replace that line with your implementation" in verdict("conv2d_shapes", source, ("contract",))["message"]


def test_a_hostile_return_value_is_read_without_running_its_code():
    """A tuple subclass whose methods claim the right shape over wrong contents is read as its contents; an int
    whose __int__, __index__ and __eq__ lie is read as its value; neither method runs (they would raise)."""
    lying_shape = '''
class Liar(tuple):
    def __len__(self):
        raise RuntimeError("never called")
    def __iter__(self):
        raise RuntimeError("never called")
    def __getitem__(self, i):
        raise RuntimeError("never called")
''' + CONV.replace("return (B, out_channels, side(height), side(width))",
                   "return Liar((B, out_channels, side(height), 0))")
    result = verdict("conv2d_shapes", lying_shape, ("quick",))
    assert "output_shape[3], W_out (the width): you gave 0" in result["message"]
    result = verdict("conv2d_shapes", HOSTILE["a count whose __index__ and __int__ lie"], ("quick",))
    assert "num_params is 1; nn.Conv2d has 448 parameters" in result["message"]


@pytest.mark.parametrize("name, words", [
    ("an infinite generator as a shape", "output_shape is an itertools.count, not a tuple of ints"),
    ("a float from true division", "output_shape[2] is a float (32.0), not an int. Sizes are whole numbers: "
                                   "divide with //"),
    ("a shape nested a million deep", "weight_shapes[1][0] is a list, not an int"),
    ("a shape whose __len__ and __iter__ lie", "conv2d_shapes returns a tuple"),
])
def test_hostile_return_values_fail_or_pass_on_their_contents_alone(name, words):
    result = verdict("conv2d_shapes", HOSTILE[name], ("contract",))
    assert words in result["message"], result["message"]


def test_too_slow_fails_with_a_message_that_says_so():
    source = CONV.replace("    B, C, height, width = input_shape\n", "    B, C, height, width = input_shape\n"
                          "    while True:\n        pass\n")
    result = verdict("conv2d_shapes", source, ("contract",), timeout_s=1.0)
    assert not result["passed"] and "did not return within 1 s" in result["message"]
    assert "input_shape=(8, 3, 32, 32), out_channels=16" in result["message"]


def _forged(task_name, tensors, **description):
    """The judge's verdict on results crossed from the learner's side as given, on a contract check."""
    check = judge.Judge(task_name, ("contract",), seed=0)
    records = [{"status": "ok", "outputs": tensors, "returned": [("Tensor", tuple(t.shape), str(t.dtype)[6:], "cpu")
                                                                  for t in tensors], **description}]
    data, descriptions = results.encode(records * len(check.cases))
    return check.rule_encoded(data, descriptions, {"timed_out": False})


def test_forged_results_fail():
    right = [torch.tensor([8, 16, 32, 32]), torch.tensor([4, 1]), torch.tensor([16, 3, 3, 3, 16]), torch.tensor(448)]
    assert _forged("conv2d_shapes", right).passed, "the forgeries below differ from this right one by one thing"
    as_floats = [t.double() for t in right]
    assert "not in the form" in _forged("conv2d_shapes", as_floats).message
    assert "not in the form" in _forged("conv2d_shapes", right[:3]).message
    too_many_axes = [right[0], torch.tensor([4, 3]), right[2], right[3]]  # 7 axes claimed, 5 sizes sent
    assert "not in the form" in _forged("conv2d_shapes", too_many_axes).message
    as_matrix = [right[0].reshape(2, 2), *right[1:]]
    assert not _forged("conv2d_shapes", as_matrix).passed
    # A description can only fail a case: "malformed" or torch operators beside right tensors fail it.
    assert not _forged("conv2d_shapes", right, malformed="anything").passed
    assert "ran torch operators" in _forged("conv2d_shapes", right, torch_ops=["aten::empty"]).message
    assert "could not be checked" in _forged("conv2d_shapes", right, torch_ops="aten::empty").message


def test_a_stopped_record_is_one_field_that_the_judge_reads_for_every_assignment():
    """The learner's side says a stopped profiler record in one field, record_stopped, for the shapes
    answers as for the tensor ones: the shapes judge fails right numbers with it, and "profiler::stopped"
    is no longer a torch operator of the record (tests/test_shapes_hostile.py stops it for real)."""
    right = [torch.tensor([8, 16, 32, 32]), torch.tensor([4, 1]), torch.tensor([16, 3, 3, 3, 16]), torch.tensor(448)]
    message = _forged("conv2d_shapes", right, record_stopped=True).message
    assert "stopped the grader's record of the torch operators" in message
    from gru_ref.learner import sandbox
    record = sandbox._run_plain_case(lambda: torch.autograd.profiler._disable_profiler(), {"args": [], "answer": []})
    assert record.get("record_stopped") is True and "profiler::stopped" not in record["torch_ops"]


def test_configurations_are_drawn_from_the_judges_generator_and_cover_the_awkward_ones():
    def drawn(task, seed):
        return judge.Judge(task, ("values",), seed=seed).cases

    for task in TASKS:
        assert drawn(task, 1) == drawn(task, 1) and drawn(task, 1) != drawn(task, 2)
    convs = [c.args for seed in range(4) for c in drawn("conv2d_shapes", seed)]
    assert any(stride > 1 and (shape[2] + 2 * padding - dilation * (k - 1) - 1) % stride
               for shape, _, k, stride, padding, dilation, _ in convs)
    assert any(dilation > 1 for *_, dilation, _ in convs) and any(groups > 1 for *_, groups in convs)
    assert any(shape[2] != shape[3] for shape, *_ in convs) and any(padding for *_, padding, _, _ in convs)
    rnns = [c.args for seed in range(4) for c in drawn("rnn_shapes", seed)]
    assert any(layers > 1 and bidirectional for _, _, _, layers, bidirectional, _ in rnns)
    assert {kind for kind, *_ in rnns} == {"RNN", "GRU"} and {bf for *_, bf in rnns} == {True, False}
    mlps = [c.args for seed in range(4) for c in drawn("mlp_shapes", seed)]
    assert any(len(shape) > 2 for shape, _ in mlps) and any(len(sizes) > 3 for _, sizes in mlps)


def test_each_known_mistake_is_one_knob_away_from_the_module():
    """The mistakes' formulas with no knob turned are the module, on many random configurations; each
    mistake differs from the module somewhere: a mistake, not a second right answer."""
    from gru_ref.reference import shapes_mistakes as shape_mistakes
    formulas = {"mlp_shapes": (shape_mistakes._mlp, shape_mistakes.RIGHT_MLP),
                "conv2d_shapes": (shape_mistakes._conv, shape_mistakes.RIGHT_CONV),
                "rnn_shapes": (shape_mistakes._rnn, shape_mistakes.RIGHT_RNN)}
    generator = torch.Generator().manual_seed(0)
    for name, task in TASKS.items():
        formula, right = formulas[name]
        cases = [shape_tasks.ShapeCase(task.draw(generator)) for _ in range(60)] + list(task.parts["values"])
        for case in cases:
            assert dict(zip(task.output_names, formula(*case.args, **right))) == task.expected(case), case
        for mistake in (m for m in SHAPE_MISTAKES if m.task == name):
            assert any(dict(zip(task.output_names, mistake.answer(*c.args))) != task.expected(c) for c in cases), \
                mistake.name
    with pytest.raises(ValueError, match="at least one knob"):
        shape_mistakes.ShapeMistake("none", "conv2d_shapes", "", {}).answer(*TASKS["conv2d_shapes"].draw(generator))


def test_routes_around_the_torch_refusal_are_flagged_for_review_and_right_answers_are_not():
    """torch's own shape rules in plain Python run no operator, so the record of operators cannot see them:
    the integrity scan flags them (and threads) for manual review."""
    from gru_ref.grading import integrity
    private = CONV.replace("    B, C, height, width = input_shape\n", "    B, C, height, width = input_shape\n"
                           "    shape = torch._meta_registrations.calc_conv_nd_return_shape\n")
    threaded = "import threading\n" + CONV
    for source in (private, threaded):
        assert integrity.scan([(0, source)]), source
    for source in (*RIGHT.values(), *UNUSUAL_RIGHT.values()):
        assert not integrity.scan([(0, source)])


def test_the_worked_examples_in_the_notebook_are_what_the_modules_give():
    import json
    from conftest import ROOT
    text = "".join("".join(c["source"]) for c in json.loads((ROOT / "exercises" / "shapes" / "shapes.ipynb")
                                                            .read_text())["cells"] if c["cell_type"] == "markdown")
    examples = {"mlp_shapes": ((8, 784), [784, 128, 10]), "conv2d_shapes": ((8, 3, 32, 32), 16, 3, 1, 1, 1, 1)}
    for name, args in examples.items():
        expected = TASKS[name].expected(shape_tasks.ShapeCase(args))
        assert f"`{name}{args!r}`, returns\n`{tuple(expected.values())!r}`" in text
    gru = TASKS["rnn_shapes"].expected(shape_tasks.ShapeCase(("GRU", (16, 7, 10), 20, 3, False, True)))
    start = ", ".join(map(repr, gru["weight_shapes"][:5]))
    assert (f"returns `{gru['output_shape']!r}`, `{gru['h_n_shape']!r}`, twelve\nshapes starting `{start}, ...`, "
            f"and `{gru['num_params']}`") in text and len(gru["weight_shapes"]) == 12


def test_in_the_learners_own_process_the_checks_decide_the_same():
    """Once CUDA has started in a kernel, a check runs in that process instead of a forked child."""
    from conftest import IN_THE_LEARNERS_PROCESS, in_fresh_process
    right, cheat = in_fresh_process(f"""
{IN_THE_LEARNERS_PROCESS}
from conftest import define
from shapes_code import CHEATS, CONV
from gru_ref.learner.check import judge_function
right = judge_function("conv2d_shapes", define(CONV)["conv2d_shapes"], ("contract", "quick"))
cheat = judge_function("conv2d_shapes", define(CHEATS["conv2d_shapes"])["conv2d_shapes"], ("quick",))
print(json.dumps([right, cheat]))
""")
    assert right["passed"], right["message"]
    assert not cheat["passed"] and "ran torch operators" in cheat["message"]


def test_the_class_report_names_the_shapes_mistakes():
    from gru_ref.grading.report import diagnosis
    function, source = WRONG["conv_groups_ignored"]
    assert diagnosis(verdict(function, source, ("quick",))["message"]) == "conv groups ignored"
    assert diagnosis(verdict("conv2d_shapes", CHEATS["conv2d_shapes"], ("quick",))["message"]) == \
        "shapes read off torch, not computed"


def test_reading_an_answer_never_asks_the_answer_what_it_is():
    """isinstance() would ask an object's own __class__; the reader looks at its real type only."""
    class Spy:
        asked = []

        @property
        def __class__(self):
            Spy.asked.append("__class__")
            return tuple

    layout = [("output_shape", "shape"), ("weight_shapes", "shapes"), ("num_params", "count")]
    with pytest.raises(shape_answers.Unreadable, match=r"output_shape is a (\w+\.)?Spy, not a tuple of ints"):
        shape_answers.encode((Spy(), [], 1), layout)
    long_name = type("X" * 10_000, (), {"__module__": Spy()})
    with pytest.raises(shape_answers.Unreadable, match=r"num_params is a X{60}, not an int\."):
        shape_answers.encode(((1,), [], long_name()), layout)
    assert Spy.asked == []


def test_numpy_integers_count_as_ints_and_no_method_of_theirs_runs():
    # numpy.int64 parameter counts lost 6 of 9 points (issue 13): numpy's own integer types are read by
    # numpy's C code (exact, immutable types), so a count from np.prod or np.sum is an int here.
    with_numpy = "import numpy as np\n" + CONV.replace(
        "return (B, out_channels, side(height), side(width)), [weight, (out_channels,)], num_params",
        "return (np.int64(B), out_channels, np.int32(side(height)), side(width)), [weight, (np.uint16(out_channels),)], "
        "np.prod(weight) + np.int64(out_channels)")
    result = verdict("conv2d_shapes", with_numpy, ("contract", "quick", "values"))
    assert result["passed"], result["message"]
    # A subclass of numpy.int64 is not numpy's: its value would come from the learner's methods.
    lying = "import numpy as np\nclass Count(np.int64):\n    def __index__(self):\n        return 448\n" + CONV.replace(
        "[weight, (out_channels,)], num_params", "[weight, (out_channels,)], Count(num_params)")
    result = verdict("conv2d_shapes", lying, ("contract",))
    assert not result["passed"] and "num_params is a Count, not an int" in result["message"], result["message"]
