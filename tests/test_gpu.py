"""The CUDA part of the checker. Runs where torch.cuda.is_available(); `tools/gpu-check.sh` runs it."""
import pytest
import torch
from torch import nn

from gru_ref import gru_sequence
from gru_ref.check import judge_function

from conftest import define
from learner_code import CONTRACT, GRU_CELL, MY_GRU_BATCHED, MY_GRU_WITH_CELL

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(autouse=True)
def no_tf32():
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_reference_matches_nn_gru_on_cuda_in_float32():
    torch.manual_seed(0)
    gru = nn.GRU(5, 7, batch_first=True, device="cuda")
    x, h0 = torch.randn(3, 11, 5, device="cuda"), torch.randn(3, 7, device="cuda")
    expected, h_n = gru(x, h0.unsqueeze(0))
    output, h_final = gru_sequence(x, h0, gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
    torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h_final, h_n[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("source", [MY_GRU_WITH_CELL, MY_GRU_BATCHED])
def test_correct_answers_pass_the_cuda_cases(source):
    result = judge_function("my_gru", define(GRU_CELL, source)["my_gru"], ("devices",))
    assert result["passed"], result["message"]
    assert "cuda" in result["message"]


def test_a_cpu_only_answer_fails_on_cuda():
    result = judge_function("my_gru", define(GRU_CELL, CONTRACT["device hard-coded"])["my_gru"], ("devices",))
    assert not result["passed"]
    assert "device" in result["message"]


def test_checks_still_work_after_the_kernel_has_used_cuda():
    torch.zeros(1, device="cuda")  # a CUDA context in this process: the check cannot fork, runs in-process
    assert torch.cuda.is_initialized()
    result = judge_function("my_gru", define(GRU_CELL, MY_GRU_WITH_CELL)["my_gru"], ("devices",))
    assert result["passed"], result["message"]
