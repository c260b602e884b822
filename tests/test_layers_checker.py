"""The `gru_layers` assignment's checker, below nbgrader: my_gru_layers's source in, verdict out."""
import pytest

from gru_ref import check_my_gru_layers
from gru_ref.learner.check import judge_function
from gru_ref.reference.gru_layers_mistakes import LAYERS_MISTAKES

from conftest import define
from layers_code import CHEATS, MY_GRU_LAYERS, WRONG

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
