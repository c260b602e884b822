"""On a CUDA machine: the train_gru check (train_and_predict, retrained from scratch) where the GPU is
in play. In a fresh process, where checks fork: the solution passes; an answer that trains on the GPU
and returns CPU logits passes; one that returns its logits on the GPU fails with the device named.
Then, with CUDA started in this process first (as a learner's kernel that used the GPU), where the
check runs in-process under its 60 s limit: the solution and the GPU-trained answer pass again.
Run as `python tools/gpu_train_check.py` (CUDA must not have started before it)."""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import define  # noqa: E402
from gru_ref import sandbox  # noqa: E402
from gru_ref.check import judge_function  # noqa: E402
import train_code  # noqa: E402

ON_GPU = train_code.RIGHT["train_and_predict"].replace(
    "    model = GRUClassifier(F, 16, K)\n    train(model, train_x, train_y)\n",
    "    model = GRUClassifier(F, 16, K).cuda()\n    train(model, train_x.cuda(), train_y.cuda())\n").replace(
    "return model(test_x)", "return model(test_x.cuda()).cpu()")
assert ON_GPU != train_code.RIGHT["train_and_predict"]
ANSWERS = {"solution": train_code.source(), "trains on the GPU": train_code.source(train_and_predict=ON_GPU),
           "returns GPU logits": train_code.source(train_and_predict=ON_GPU.replace(".cpu()", ""))}
EXPECTED = {"solution": True, "trains on the GPU": True, "returns GPU logits": False}


def run_all(where):
    results, ok = {}, True
    for name, source in ANSWERS.items():
        if where == "in-process" and name == "returns GPU logits":
            continue
        start = time.monotonic()
        verdict = judge_function("train_and_predict", define(source)["train_and_predict"], ("contract", "quick"))
        results[name] = {**verdict, "seconds": round(time.monotonic() - start, 1)}
        ok &= verdict["passed"] == EXPECTED[name]
        if name == "returns GPU logits":
            ok &= "on the device 'cuda'" in verdict["message"]
    return results, ok


import torch  # noqa: E402

if not torch.cuda.is_available():
    sys.exit("no CUDA device visible to torch")
report = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0)}
assert not sandbox.cuda_started_here()
report["forked"], ok_forked = run_all("forked")
torch.zeros(1, device="cuda")  # the learner's kernel has used the GPU: checks now run in this process
assert sandbox.cuda_started_here()
report["in-process"], ok_in_process = run_all("in-process")
print(json.dumps(report, indent=1))
print("ALL OK" if ok_forked and ok_in_process else "FAILED")
sys.exit(0 if ok_forked and ok_in_process else 1)
