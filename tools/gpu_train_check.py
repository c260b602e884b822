"""On a CUDA machine: the train_gru check (train_and_predict, retrained from scratch) where a GPU is
in play. In a fresh process, where checks fork a child that sees no GPU (none of these cases needs
one; CUDA could not start there under the memory limit, and Adam's step() would start it): the
solution passes; an answer that picks its device with torch.cuda.is_available(), in
train_and_predict, passes (it trains on the CPU there); one that calls .cuda() whatever fails with the hint that the grader trains on the CPU.
Then, with CUDA started in this process first (a learner's kernel that used the GPU), where the check
runs in-process under its 60 s limit: the solution and the device-picking answer (now on the GPU) pass.
With --grading, last, the solution notebook is graded through the sandbox with the GPU passed in
(bubblewrap needed): every test passes, the GPU hidden from the training runs.
Run as `python tools/gpu_train_check.py [--grading]` (CUDA must not have started before it)."""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import define  # noqa: E402
from gru_ref.learner import sandbox  # noqa: E402
from gru_ref.learner.check import judge_function  # noqa: E402
import train_code  # noqa: E402

ON_GPU = train_code.RIGHT["train_and_predict"].replace(
    "    model = GRUClassifier(F, 32, K)\n    train(model, train_x, train_y, stop_at=0.99)\n",
    "    model = GRUClassifier(F, 32, K).to(DEVICE)\n"
    "    train(model, train_x.to(DEVICE), train_y.to(DEVICE), stop_at=0.99)\n").replace(
    "return model(test_x)", "return model(test_x.to(DEVICE)).cpu()")
assert ON_GPU != train_code.RIGHT["train_and_predict"]
PICKS = "    DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'\n    model = GRUClassifier"
ANSWERS = {"solution": train_code.source(),
           "picks its device": train_code.source(train_and_predict=ON_GPU.replace("    model = GRUClassifier", PICKS)),
           "calls .cuda() whatever": train_code.source(train_and_predict=ON_GPU.replace("DEVICE", "'cuda'"))}
EXPECTED = {"solution": True, "picks its device": True, "calls .cuda() whatever": False}


def run_all(where):
    results, ok = {}, True
    for name, source in ANSWERS.items():
        if where == "in-process" and name == "calls .cuda() whatever":
            continue
        start = time.monotonic()
        verdict = judge_function("train_and_predict", define(source)["train_and_predict"], ("contract", "quick"))
        results[name] = {**verdict, "seconds": round(time.monotonic() - start, 1)}
        ok &= verdict["passed"] == EXPECTED[name]
        if name == "calls .cuda() whatever":
            ok &= "The grader trains your model on the CPU" in verdict["message"]
    return results, ok


import torch  # noqa: E402

assert not sandbox.cuda_started_here()  # nothing has asked CUDA anything yet: the checks fork
report = {"torch": torch.__version__}
report["forked"], ok_forked = run_all("forked")
if not torch.cuda.is_available():
    sys.exit("no CUDA device visible to torch")
report["device"] = torch.cuda.get_device_name(0)
torch.zeros(1, device="cuda")  # the learner's kernel has used the GPU: checks now run in this process
assert sandbox.cuda_started_here()
report["in-process"], ok_in_process = run_all("in-process")
ok_graded = True
if "--grading" in sys.argv:  # the solution notebook through the sandbox, the GPU's device nodes passed in
    import nbformat
    from gru_ref.grading.box import Box
    from gru_ref.grading.submission import grade_notebook
    ROOT = Path(__file__).resolve().parents[1]
    box = Box(gpu=True)
    try:
        result = grade_notebook(nbformat.read(ROOT / "solutions" / "train_gru" / "train_gru.ipynb", as_version=4), box)
    finally:
        box.close()
    report["graded"] = {"tests": result["tests"], "seconds": result["seconds"]}
    ok_graded = all(verdict["passed"] for verdict in result["tests"].values())
print(json.dumps(report, indent=1))
print("ALL OK" if ok_forked and ok_in_process and ok_graded else "FAILED")
sys.exit(0 if ok_forked and ok_in_process and ok_graded else 1)
