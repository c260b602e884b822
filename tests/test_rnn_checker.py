"""The `rnn` assignment's checker, below nbgrader: my_rnn's source in, verdict and message out."""
import pytest
import torch

from gru_ref import check_my_rnn
from gru_ref.learner import sandbox
from gru_ref.learner.check import judge_function
from gru_ref.assignments.rnn import RNN_MISTAKES

from conftest import define
from learner_code import GRU_CELL, MY_GRU_BATCHED
from rnn_code import CHEATS, MY_RNN, MY_RNN_BATCHED, WRONG

ALL_PARTS = ("contract", "quick", "values", "gradients", "devices")
LESSONS = {m.name: m.lesson for m in RNN_MISTAKES}
pytestmark = pytest.mark.usefixtures("forks_cleanly")


def verdict(source, parts=ALL_PARTS):
    return judge_function("my_rnn", define(source)["my_rnn"], parts)


@pytest.mark.parametrize("source", [MY_RNN, MY_RNN_BATCHED], ids=["loop", "batched input projection"])
def test_correct_rnns_pass_every_part(source):
    result = verdict(source)
    assert result["passed"], result["message"]
    assert "matches torch.nn.RNN: values and gradients" in result["message"]


def test_the_notebook_api_prints_and_raises(capsys):
    check_my_rnn(define(MY_RNN)["my_rnn"])
    assert "Passed: my_rnn matches torch.nn.RNN" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="my_rnn is not a function"):
        check_my_rnn(None)


def test_every_known_mistake_has_an_answer_here():
    assert set(WRONG) == set(LESSONS)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_each_common_mistake_fails_with_its_own_lesson(name):
    result = verdict(WRONG[name], ("quick", "values"))
    assert not result["passed"]
    assert LESSONS[name] in result["message"]
    assert "does not match torch.nn.RNN" in result["message"]
    if name == "rnn_h_final_first_step":
        assert "output matches, but h_final does not" in result["message"]
    else:
        t = 1 if name == "rnn_state_not_carried" else 0
        assert f"First difference: output[:, {t}] (time step {t})" in result["message"]


@pytest.mark.parametrize("old, new, expected", [
    ("dim=1), h", "dim=1), h.unsqueeze(0)", "nn.RNN's h_n has an extra num_layers dimension"),
    ("return torch.stack(states, dim=1), h", "return torch.stack(states, dim=1)",
     "my_rnn returned a Tensor, but it must return a tuple of 2 tensors: `return output, h_final`"),
    ("input[:, t] @ w_ih.T", "input[:, t] @ w_ih", "w_ih is (H, F) and w_hh is (H, H)"),
])
def test_contract_and_shape_messages_speak_of_the_rnn(old, new, expected):
    result = verdict(MY_RNN.replace(old, new), ("quick",))
    assert not result["passed"]
    assert expected in result["message"]
    assert "3H" not in result["message"] and "GRU" not in result["message"]


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_every_route_to_a_builtin_rnn_gets_no_credit(name):
    result = verdict(CHEATS[name], ("quick",))
    assert not result["passed"]
    assert "built-in recurrent kernel" in result["message"]
    assert "nn.RNN, nn.RNNCell, torch.rnn_tanh" in result["message"]


def test_the_switch_off_catches_recurrent_kernels_only():
    """Every aten op it refuses is a recurrent layer's; the ops right GRU and RNN answers use are not."""
    refused = [n for n in torch._C._dispatch_get_all_op_names()
               if n.startswith("aten::") and any(w in n for w in sandbox.REFUSED_OP_WORDS)]
    assert {"aten::rnn_tanh.input", "aten::rnn_tanh_cell", "aten::rnn_relu.input", "aten::gru.input",
            "aten::lstm.input"} <= set(refused)
    x, h = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    weights = [torch.randn(s, dtype=torch.float64) for s in ((5, 4), (5, 5), (5,), (5,))]
    gru_weights = [torch.randn(s, dtype=torch.float64) for s in ((15, 4), (15, 5), (15,), (15,))]
    with torch.autograd.profiler.profile() as prof:
        define(MY_RNN)["my_rnn"](x, h, *weights)
        define(MY_RNN_BATCHED)["my_rnn"](x, h, *weights)
        define(GRU_CELL, MY_GRU_BATCHED)["my_gru"](x, h, *gru_weights)
    used = {event.name() for event in prof.kineto_results.events()}
    assert "aten::tanh" in used
    assert not [n for n in used if sandbox.BUILTIN_RNN_OP.search(n)]
    assert not set(used) & set(refused)
