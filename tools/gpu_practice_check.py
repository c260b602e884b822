"""On a CUDA machine: the rnn and gru_layers checks with their CUDA cases (the "devices" part adds
them there). Right answers must pass with the CUDA cases in; an answer that moves a tensor to the CPU
must fail the devices check. And the shapes checks on torch's CUDA build: its profiler must record
nothing for plain arithmetic, and still see a module built to read the answer off, in a thread too.
Run in a fresh process, as `python tools/gpu_practice_check.py` (checks fork; CUDA must not have
started here first)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import define  # noqa: E402
from gru_ref.learner.check import judge_function  # noqa: E402
import layers_code  # noqa: E402
import rnn_code  # noqa: E402
import shapes_code  # noqa: E402

CPU_ONLY = {
    "my_rnn": rnn_code.MY_RNN.replace("    h = initial_states\n", "    h = initial_states.cpu()\n"),
    "my_gru_layers": layers_code.MY_GRU_LAYERS.replace("    h_n = []\n", "    h_n = []\n    x = x.cpu()\n"),
}
RIGHT = {"my_rnn": rnn_code.MY_RNN, "my_gru_layers": layers_code.MY_GRU_LAYERS}
report, ok = {}, True
for task in RIGHT:
    right = judge_function(task, define(RIGHT[task])[task], ("values", "gradients", "devices"))
    wrong = judge_function(task, define(CPU_ONLY[task])[task], ("devices",))
    report[task] = {"right": right, "cpu_only": wrong}
    ok &= right["passed"] and "cuda" in right["message"] and not wrong["passed"]
for task, source in {"mlp_shapes": shapes_code.MLP, "conv2d_shapes": shapes_code.CONV,
                     "rnn_shapes": shapes_code.RNN}.items():
    right = judge_function(task, define(source)[task], ("contract", "quick", "values"))
    cheat = judge_function(task, define(shapes_code.CHEATS[task])[task], ("quick",))
    report[task] = {"right": right, "cheat": cheat}
    ok &= right["passed"] and not cheat["passed"] and "ran torch operators" in cheat["message"]
THREADED = shapes_code.CHEATS["conv2d_shapes"].replace("def conv2d_shapes(", "def read_off(") + """
import concurrent.futures
def conv2d_shapes(*args):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(read_off, *args).result()
"""
threaded = judge_function("conv2d_shapes", define(THREADED)["conv2d_shapes"], ("quick",))
report["conv2d_shapes"]["cheat_in_a_thread"] = threaded
ok &= not threaded["passed"] and "ran torch operators" in threaded["message"]
print(json.dumps(report, indent=1))
print("ALL OK" if ok else "FAILED")
sys.exit(0 if ok else 1)
