"""On a machine with CUDA: notebooks graded through the sandbox with the GPU passed in (the same
gru_ref.grading.submission.grade_notebook that nbgrader's SandboxedExecute and the class command
call). Prints one line per notebook and writes a JSON summary to the path given (if any).

    python tools/gpu_grading_check.py [summary.json]

Notebooks: the solution (hidden tests included, so the devices test runs the CUDA cases); one whose
own cells use CUDA before the tests; an answer that hard-codes the CPU (fails on CUDA); cuDNN's
nn.GRU (refused); and the blog's bug (fails with its lesson).
"""
import json
import sys
import time
from pathlib import Path

import nbformat
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from hostile_code import NN_GRU  # noqa: E402
from learner_code import GRU_CELL, GRU_CELL_GRAD, MY_GRU_WITH_CELL, WRONG  # noqa: E402

from gru_ref.grading.box import Box  # noqa: E402
from gru_ref.grading.submission import grade_notebook  # noqa: E402

USES_CUDA = '''
x = torch.randn(4, 3, device="cuda")
print("the notebook's own CUDA work:", (x @ x.T).sum().item(), torch.cuda.get_device_name(0))
'''
CPU_ONLY = MY_GRU_WITH_CELL.replace("return torch.stack(states, dim=1), h",
                                    "return torch.stack(states, dim=1).cpu(), h.cpu()")
CASES = {  # name: (answers by grade_id (the rest keep the solution), unused, the tests expected to pass)
    "solution": (None, None, "all"),
    "cells_use_cuda": ({"gru_cell": GRU_CELL, "my_gru": MY_GRU_WITH_CELL + USES_CUDA,
                        "gru_cell_grad": GRU_CELL_GRAD}, None, "all"),
    "cpu_only": ({"gru_cell": GRU_CELL, "my_gru": CPU_ONLY}, None,
                 ["test_gru_cell", "test_gru_cell_grad", "test_my_gru_contract", "test_my_gru_values"]),
    "cudnn_nn_gru": ({"gru_cell": GRU_CELL, "my_gru": NN_GRU}, None, ["test_gru_cell", "test_gru_cell_grad"]),
    "blog_bug": ({"gru_cell": GRU_CELL, "my_gru": WRONG["reset_gate_missing"]}, None,
                 ["test_gru_cell", "test_gru_cell_grad", "test_my_gru_contract"]),
}


def notebook(answers):
    nb = nbformat.read(ROOT / "solutions" / "gru" / "gru.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if answers and grade_id in answers:
            cell.source = answers[grade_id].strip("\n")
    return nb


def main():
    assert torch.cuda.is_available(), "no CUDA device visible to torch"
    summary = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": torch.version.cuda,
               "device": torch.cuda.get_device_name(0), "notebooks": {}}
    print(summary)
    box, ok = Box(gpu=True), True
    for name, (answers, _, expected) in CASES.items():
        start = time.perf_counter()
        result = grade_notebook(notebook(answers), box)
        seconds = time.perf_counter() - start
        passed = sorted(t for t, v in result["tests"].items() if v["passed"])
        want = sorted(result["tests"]) if expected == "all" else sorted(expected)
        ok &= passed == want
        messages = {t: v["message"][:300] for t, v in result["tests"].items()}
        summary["notebooks"][name] = {"passed": passed, "expected": want, "seconds": round(seconds, 2),
                                      "end": result["end"], "messages": messages,
                                      "cell_outputs": {k: v for k, v in result["outputs"].items() if v}}
        print(f"{'OK ' if passed == want else 'BAD'} {name}: {len(passed)}/{len(result['tests'])} tests "
              f"passed in {seconds:.2f} s; {messages.get('test_my_gru_gradients_devices', '')[:160]}")
    box.close()
    summary["ok"] = bool(ok)
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(summary, indent=1, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
