"""The `gru_layers` assignment's checker, below nbgrader: my_gru_layers's source in, verdict out."""
import pytest

from gru_ref import check_my_gru_layers
from gru_ref.learner.check import judge_function
from gru_ref.assignments.gru_layers import LAYERS_MISTAKES

from conftest import define
from layers_code import CHEATS, MY_GRU_LAYERS, STEP_WRONG, WRONG

ALL_PARTS = ("contract", "quick", "values", "gradients", "devices")
LESSONS = {m.name: m.lesson for m in LAYERS_MISTAKES}
pytestmark = pytest.mark.usefixtures("forks_cleanly")


def verdict(source, parts=ALL_PARTS):
    return judge_function("my_gru_layers", define(source)["my_gru_layers"], parts)


def test_a_correct_answer_passes_every_part_and_the_notebook_api_prints(capsys):
    result = verdict(MY_GRU_LAYERS)
    assert result["passed"], result["message"]
    check_my_gru_layers(define(MY_GRU_LAYERS)["my_gru_layers"])
    assert "Passed: my_gru_layers matches torch.nn.GRU" in capsys.readouterr().out


def test_every_known_mistake_has_an_answer_here():
    assert set(WRONG) == set(LESSONS)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_each_common_mistake_fails_with_its_own_lesson(name):
    result = verdict(WRONG[name], ("quick", "values"))
    assert not result["passed"]
    assert LESSONS[name] in result["message"]
    assert "num_layers=2, bidirectional=True, batch_first=True" in result["message"]


@pytest.mark.parametrize("name, where", [("reset_gate_missing", "in every layer and both directions"),
                                         ("z_swapped_reverse_only", "in the reverse direction only")])
def test_a_mistake_of_the_step_inside_the_layers_is_named_with_where_it_shows(name, where):
    """Issue 15 item 5: the blog's missing reset gate, z swapped in one direction: named as the gru
    assignment names them, with the direction, and the first difference's place."""
    from gru_ref.assignments.gru import MISTAKES
    lesson = next(m.lesson for m in MISTAKES if name.startswith(m.name))
    result = judge_function("my_gru_layers", define(STEP_WRONG[name])["my_gru_layers"], ("quick",))
    assert not result["passed"] and result["diagnosis"] == name
    assert f"Most likely mistake: {lesson} It shows {where}" in result["message"]
    assert "First difference: output[:, " in result["message"]


def test_the_layers_mistakes_refuse_to_compute_a_right_answer():
    """The instructors' code of them: with no knob turned, or only knobs that change nothing on these arguments
    (a reverse-direction mistake without a reverse direction, one layer fed the input), they refuse."""
    import torch
    from gru_ref.reference.mistakes.layers import RIGHT_LAYERS_KNOBS, layers as _layers
    weights = [torch.randn(s, dtype=torch.float64) for s in ((6, 3), (6, 2), (6,), (6,))]
    args = (torch.randn(1, 3, 3, dtype=torch.float64), torch.randn(1, 1, 2, dtype=torch.float64), weights, 1, False, True)
    for knobs in ({}, RIGHT_LAYERS_KNOBS, {"rereverse": False}, {"reverse_reads": False}, {"feed": "input"},
                  {"cat_order": "reverse_first"}, {"h_n_order": "direction_major"}, {"reverse_h_n": "last_step"},
                  {"cell": "z_swapped", "cell_in": "reverse"}):
        with pytest.raises(ValueError, match="a mistake needs a knob turned"):
            _layers(*args, **knobs)
    with pytest.raises(ValueError, match="unknown knob"):
        _layers(*args, step=None)
    assert _layers(*args, cell="z_swapped", cell_in="forward")[0].shape == (1, 3, 2)  # a turned knob: it runs


def test_h_n_messages_name_the_layer_and_direction():
    result = verdict(WRONG["reverse_h_n_at_last_step"], ("quick",))
    assert "output matches, but h_n differs first at h_n[1] (layer 0, reverse)" in result["message"]


def test_in_the_time_major_layout_the_first_difference_is_on_the_first_axis():
    # Wrong at the last step, in the time-major layout only: the first such values case has T=5.
    wrong = MY_GRU_LAYERS.replace("    return (x if batch_first else x.transpose(0, 1)), torch.stack(h_n)",
                                  "    if not batch_first:\n        x = torch.cat([x[:, :-1], 2 * x[:, -1:]], dim=1)\n"
                                  "    return (x if batch_first else x.transpose(0, 1)), torch.stack(h_n)")
    result = judge_function("my_gru_layers", define(wrong)["my_gru_layers"], ("values",))
    assert "batch_first=False" in result["message"]
    assert "First difference: output[4] (time step 4)" in result["message"]


@pytest.mark.parametrize("old, new, expected", [
    ("torch.stack(h_n)", "torch.stack(h_n)[None]", "h_n has shape"),
    ("(x if batch_first else x.transpose(0, 1))", "x", "it must be (T, B, num_directions * H)"),
    ("x @ w_ih.T", "x @ w_ih", "weight_ih (3H, F for layer 0, num_directions * H above)"),
])
def test_contract_and_shape_messages_speak_of_layers(old, new, expected):
    result = verdict(MY_GRU_LAYERS.replace(old, new), ("contract",))
    assert not result["passed"]
    assert expected in result["message"]


def test_mutating_a_weight_is_named_by_its_nn_gru_name():
    source = MY_GRU_LAYERS.replace("    D = 2 if bidirectional else 1\n",
                                   "    D = 2 if bidirectional else 1\n    weights[5].mul_(1)\n    weights[5].add_(1)\n")
    result = verdict(source, ("quick",))
    assert "changed its argument(s) weight_hh_l0_reverse in place" in result["message"]


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_builtin_grus_get_no_credit(name):
    result = verdict(CHEATS[name], ("quick",))
    assert not result["passed"]
    assert "built-in recurrent kernel" in result["message"]


@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, True), (3, False)])
def test_the_weights_are_named_and_shaped_in_nn_grus_own_order(layers, bidirectional):
    import torch
    from gru_ref.assignments import TASKS
    from gru_ref.judge.cases import Case
    task, case = TASKS["my_gru_layers"], Case(2, 3, 4, 5, layers=layers, bidirectional=bidirectional)
    gru = torch.nn.GRU(4, 5, num_layers=layers, bidirectional=bidirectional)
    assert list(task.arg_names_for(case)[2:]) == [name for name, _ in gru.named_parameters()]
    assert [task.shapes(case)[name] for name, _ in gru.named_parameters()] == [tuple(p.shape) for p in gru.parameters()]
