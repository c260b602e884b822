"""gru_ref's reference equations and wrong variants, checked against torch.nn itself."""
import pytest
import torch
from torch import nn

from gru_ref import gru_cell, gru_sequence
from gru_ref.assignments import TASKS
from gru_ref.assignments.gru import CELL_MISTAKES, MISTAKES
from gru_ref.reference.mistakes import function

SHAPES = [(1, 1, 3, 2), (1, 6, 2, 3), (4, 1, 3, 5), (3, 5, 4, 2), (2, 7, 5, 5)]


def random_gru(F, H, dtype, seed):
    torch.manual_seed(seed)
    gru = nn.GRU(F, H, batch_first=True, dtype=dtype)
    with torch.no_grad():  # beyond nn's small init, so that every term matters
        for p in gru.parameters():
            p.normal_(0, 0.6)
    return gru


def weights(gru):
    return gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0


@pytest.mark.parametrize("B, T, F, H", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_gru_sequence_matches_nn_gru(B, T, F, H, dtype):
    gru = random_gru(F, H, dtype, seed=B * 100 + T)
    x, h0 = torch.randn(B, T, F, dtype=dtype), torch.randn(B, H, dtype=dtype)
    expected, h_n = gru(x, h0.unsqueeze(0))
    output, h_final = gru_sequence(x, h0, *weights(gru))
    torch.testing.assert_close(output, expected)  # dtype-aware defaults: 1e-7 float64, 1.3e-6 float32
    torch.testing.assert_close(h_final, h_n[0])
    if dtype == torch.float64:
        torch.testing.assert_close(output, expected, rtol=1e-12, atol=1e-14)


def test_gru_cell_matches_nn_grucell():
    torch.manual_seed(0)
    cell = nn.GRUCell(4, 3, dtype=torch.float64)
    x, h = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    got = gru_cell(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    torch.testing.assert_close(got, cell(x, h), rtol=1e-12, atol=1e-14)


def test_gradients_match_nn_gru():
    gru = random_gru(3, 4, torch.float64, seed=1)
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    ours = torch.autograd.grad(gru_sequence(x, h0, *weights(gru))[0].sum(), [x, h0, *weights(gru)])
    theirs = torch.autograd.grad(gru(x, h0.unsqueeze(0))[0].sum(), [x, h0, *weights(gru)])
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m.name)
def test_each_mistake_is_really_wrong_and_distinct(mistake):
    """A diagnosis is only useful if the variant differs from the truth and from the other variants."""
    gru = random_gru(3, 4, torch.float64, seed=2)
    x, h0 = torch.randn(2, 5, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    truth = gru_sequence(x, h0, *weights(gru))
    ours = function(TASKS["my_gru"], mistake)(x, h0, *weights(gru))
    assert any(not torch.allclose(a, b, atol=1e-3) for a, b in zip(ours, truth))
    for other in MISTAKES:
        if other is not mistake:
            theirs = function(TASKS["my_gru"], other)(x, h0, *weights(gru))
            assert any(not torch.allclose(a, b, atol=1e-3) for a, b in zip(ours, theirs)), other.name


def test_blog_bug_is_small_on_weak_inputs_and_large_on_strong_ones():
    """Why the checker uses non-zero biases and initial state: weak inputs hide the reset-gate bug."""
    missing_reset = next(m for m in CELL_MISTAKES if m.name == "reset_gate_missing")
    gru = random_gru(3, 4, torch.float64, seed=3)
    w_ih, w_hh, b_ih, b_hh = weights(gru)
    x = torch.randn(2, 3, dtype=torch.float64)
    zero_h, zero_b = torch.zeros(2, 4, dtype=torch.float64), torch.zeros(12, dtype=torch.float64)
    missing_reset = function(TASKS["gru_cell"], missing_reset)
    weak = (missing_reset(x, zero_h, w_ih, w_hh, zero_b, zero_b)
            - gru_cell(x, zero_h, w_ih, w_hh, zero_b, zero_b)).abs().max()
    h = torch.randn(2, 4, dtype=torch.float64)
    strong = (missing_reset(x, h, *weights(gru)) - gru_cell(x, h, *weights(gru))).abs().max()
    assert weak == 0
    assert strong > 1e-2
