import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
VENV_BIN = Path(sys.executable).parent


def fill(released, answers, appended_code=None, appended_markdown=None):
    """The released notebook with its answer cells (by grade_id) replaced, and cells appended."""
    import nbformat
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id].strip("\n")
    if appended_code:
        nb.cells.append(nbformat.v4.new_code_cell(appended_code))
    if appended_markdown:
        nb.cells.append(nbformat.v4.new_markdown_cell(appended_markdown))
    return nb


def define(*sources):
    """Run answer-cell sources like a notebook would, in one namespace; return that namespace."""
    namespace = {"torch": torch, "nn": torch.nn}
    for source in sources:
        exec(compile(source, "<answer cell>", "exec"), namespace)
    return namespace


@pytest.fixture
def forks_cleanly():
    """Checks fork a child for the learner's function; once CUDA has started in a process they run in
    it instead, where an answer that kills its process would take pytest with it. Fail clearly then."""
    from gru_ref.learner.sandbox import cuda_started_here
    assert not cuda_started_here(), "CUDA started in pytest's process: run the checker's tests in a " \
                                    "pytest process of their own, as tools/gpu-check.sh does"
    yield
    assert not cuda_started_here(), "this test started CUDA in pytest's process: run it in a fresh one"


def in_fresh_process(code, stdin=""):
    """Run code in a fresh Python process (tests/ on its path, torch imported) and return the JSON it
    prints last: what happens there, CUDA started or the checker run in-process, stays there."""
    script = f"import json, os, sys\nsys.path.insert(0, {str(TESTS)!r})\nimport torch\n{code}"
    done = subprocess.run([sys.executable, "-c", script], input=stdin, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_in_fresh_process(source, before="", parts=("devices",), after="None"):
    """In a fresh process, as in a notebook kernel: run `before` (a learner's cell), check my_gru from
    `source`, then evaluate `after`. Returns the verdict, the process's pid and what `after` gave."""
    return in_fresh_process(f"""
from conftest import builtin_grus_work, define
from learner_code import GRU_CELL
from gru_ref.learner.check import judge_function
{before}
fn = define(GRU_CELL, sys.stdin.read())["my_gru"]
verdict = judge_function("my_gru", fn, {tuple(parts)!r})
print(json.dumps({{"pid": os.getpid(), "after": {after}, **verdict}}))
""", stdin=source)


IN_THE_LEARNERS_PROCESS = "from gru_ref.learner import sandbox\nsandbox.cuda_started_here = lambda: True"


def builtin_grus_work():
    """Whether nn.GRU, torch._decomp's GRU and aten::gru's meta kernel give nn.GRU's results here."""
    from gru_ref import gru_sequence
    gru = torch.nn.GRU(3, 4, batch_first=True, dtype=torch.float64)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    h0 = torch.randn(1, 2, 4, dtype=torch.float64)
    expected = gru(x, h0)[0]
    weights = list(gru.parameters())
    decomposed = torch._decomp.decompositions.gru_impl(x, h0, weights, True, 1, 0.0, False, False, True)[0]
    meta = torch.ops.aten.gru.input(x.to("meta"), h0.to("meta"), [w.to("meta") for w in weights],
                                    True, 1, 0.0, False, False, True)[0]
    return (torch.allclose(gru_sequence(x, h0[0], *weights)[0], expected)
            and torch.allclose(decomposed, expected) and meta.shape == expected.shape)
