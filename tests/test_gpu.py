"""The CUDA part of the checker. Runs where torch.cuda.is_available(); `tools/gpu-check.sh` runs it.

A check forks a child for the learner's function, and a forked child can use neither CUDA nor
autograd once its parent has started CUDA; the check then runs in the parent. Each test here runs in
a fresh Python process, as a fresh notebook kernel, whatever pytest's own process has done before.
"""
import time

import pytest
import torch

from gru_ref.learner.check import RUN_TIMEOUT_S

from conftest import check_in_fresh_process, in_fresh_process
from learner_code import CHEATS, CONTRACT, MISBEHAVING, MY_GRU_BATCHED, MY_GRU_WITH_CELL, WRONG

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

# Passes on the CPU and on meta; calls nn.GRU (cuDNN) only when it sees CUDA tensors.
CHEAT_ON_CUDA_ONLY = (MY_GRU_WITH_CELL.replace("def my_gru(", "def loop_gru(")
                      + CHEATS["nn.GRU"].replace("def my_gru(", "def builtin_gru(") + '''
def my_gru(input, *rest):
    return (builtin_gru if input.is_cuda else loop_gru)(input, *rest)
''')

# Records the process it ran in, so a test can tell a forked child from the caller's own process.
PID_FILE_LINE = "    open({path!r}, 'a').write(f'{{__import__(\"os\").getpid()}}\\n')\n"


def verdict(source, parts=("devices",)):
    return check_in_fresh_process(source, "", parts)


def test_reference_matches_nn_gru_on_cuda_in_float32():
    result = in_fresh_process("""
from gru_ref import gru_sequence
torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
torch.manual_seed(0)
gru = torch.nn.GRU(5, 7, batch_first=True, device="cuda")
x, h0 = torch.randn(3, 11, 5, device="cuda"), torch.randn(3, 7, device="cuda")
expected, h_n = gru(x, h0.unsqueeze(0))
output, h_final = gru_sequence(x, h0, gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
torch.testing.assert_close(output, expected, rtol=1e-5, atol=1e-5)
torch.testing.assert_close(h_final, h_n[0], rtol=1e-5, atol=1e-5)
print(json.dumps({"device": output.device.type, "error": (output - expected).abs().max().item()}))
""")
    assert result["device"] == "cuda" and result["error"] <= 1e-5


@pytest.mark.parametrize("source", [MY_GRU_WITH_CELL, MY_GRU_BATCHED], ids=["loop", "batched"])
def test_correct_answers_pass_the_cuda_cases(source):
    result = verdict(source)
    assert result["passed"], result["message"]
    assert "cuda" in result["message"]


def test_a_cpu_only_answer_fails_on_cuda():
    result = verdict(CONTRACT["device hard-coded"])
    assert not result["passed"]
    assert "device" in result["message"]


def test_the_blog_bug_is_named_on_cuda():
    result = verdict(WRONG["reset_gate_missing"])
    assert not result["passed"]
    assert "on cuda" in result["message"] and "without the reset gate" in result["message"]


def test_a_builtin_gru_on_cuda_gets_no_credit():
    result = verdict(CHEAT_ON_CUDA_ONLY)
    assert not result["passed"]
    assert "built-in recurrent kernel" in result["message"]


def test_the_answer_runs_in_a_child_after_the_learner_asks_is_available(tmp_path):
    pids = tmp_path / "pids"
    source = MY_GRU_WITH_CELL.replace("    h = initial_states\n",
                                      PID_FILE_LINE.format(path=str(pids)) + "    h = initial_states\n")
    result = check_in_fresh_process(source, "assert torch.cuda.is_available()")
    assert result["passed"], result["message"]
    assert str(result["pid"]) not in pids.read_text().split()


@pytest.mark.parametrize("before", [
    "torch._C._cuda_getDeviceCount()",  # the CUDA driver started: a forked child cannot use it
    "torch.zeros(1, device='cuda')",  # torch's CUDA context too: no fork at all
], ids=["driver started", "context created"])
def test_checks_still_work_after_the_kernel_has_used_cuda(before):
    result = check_in_fresh_process(MY_GRU_WITH_CELL, before)
    assert result["passed"], result["message"]
    assert "cuda" in result["message"]


def test_gradients_are_checked_after_the_kernel_has_run_backward():
    # Autograd's first backward on a GPU machine starts CUDA (and autograd refuses to run in a forked
    # child after that), as in a notebook that trained something before the check.
    before = "torch.ones(2, requires_grad=True).sum().backward()"
    result = check_in_fresh_process(MY_GRU_WITH_CELL, before, ("gradients", "devices"))
    assert result["passed"], result["message"]


def test_in_the_kernels_process_a_builtin_gru_still_gets_no_credit():
    # ...and after the check, the learner's own nn.GRU runs on CUDA again in their kernel.
    after = "torch.nn.GRU(3, 4, device='cuda')(torch.randn(2, 5, 3, device='cuda'))[0].shape[-1]"
    result = check_in_fresh_process(CHEAT_ON_CUDA_ONLY, "torch.zeros(1, device='cuda')", after=after)
    assert not result["passed"]
    assert "built-in recurrent kernel" in result["message"]
    assert result["after"] == 4


def test_in_the_kernels_process_a_hanging_function_still_fails_in_bounded_time():
    start = time.monotonic()
    result = check_in_fresh_process(MISBEHAVING["hangs"], "torch.zeros(1, device='cuda')", ("quick",))
    assert time.monotonic() - start < RUN_TIMEOUT_S + 30  # the fresh process imports torch and starts CUDA
    assert not result["passed"]
    assert f"did not return within {RUN_TIMEOUT_S:g} s" in result["message"]


def test_the_rnn_and_gru_layers_checks_pass_on_cuda_and_catch_cpu_only_answers():
    """tools/gpu_practice_check.py, in a process of its own: my_rnn and my_gru_layers with their CUDA
    cases (values, gradients), and answers that move a tensor to the CPU failing the devices check;
    the shapes checks on torch's CUDA build (right answers pass, a module built inside gets no credit)."""
    import subprocess
    import sys
    from conftest import ROOT
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_practice_check.py")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "ALL OK" in done.stdout, done.stdout[-4000:] + done.stderr[-2000:]


def test_the_bptt_check_runs_on_cuda_names_a_slip_there_and_catches_a_cpu_only_answer():
    """gru_bptt's devices part adds its CUDA cases (float32 and float64, TF32 off) here: a right answer
    passes them, a slip is named on cuda, and an answer that makes a CPU tensor fails on the device."""
    result = in_fresh_process("""
from bptt_code import GRU_BPTT, GRU_BPTT_LOOP, SLIPS
from conftest import define
from gru_ref.learner.check import judge_function
cpu_only = GRU_BPTT_LOOP.replace("torch.zeros_like(w_ih), torch.zeros_like(w_hh)",
                                 "torch.zeros(w_ih.shape, dtype=w_ih.dtype), torch.zeros(w_hh.shape, dtype=w_hh.dtype)")
assert cpu_only != GRU_BPTT_LOOP
print(json.dumps({name: judge_function("gru_bptt", define(source)["gru_bptt"], ("devices",))
                  for name, source in (("right", GRU_BPTT), ("loop", GRU_BPTT_LOOP), ("cpu_only", cpu_only),
                                       ("slip", SLIPS["bptt_direct_path_missing"]))}))
""")
    for name in ("right", "loop"):
        assert result[name]["passed"] and "cuda" in result[name]["message"], result[name]["message"]
    assert not result["cpu_only"]["passed"] and "device" in result["cpu_only"]["message"]
    slip = result["slip"]["message"]
    assert not result["slip"]["passed"] and "on cuda" in slip and "The direct path through z is missing" in slip, slip
