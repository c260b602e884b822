"""Benchmark (not a test): seconds per submission to grade N correct submissions three ways, in one
run, on this machine:

  plain      nbgrader autograde, nbgrader's default config (a Jupyter kernel per notebook), the same
             notebook with plain assert tests against nn.GRU: no sandbox, no judge
  sandboxed  nbgrader autograde with this course's config: one notebook at a time, each in the
             bubblewrap sandbox, judged outside it
  class      python -m gru_ref.grade --workers W: the sandbox and the judge on W Dask workers

    .venv/bin/python tools/bench_grading.py [--n 8] [--workers 2] [--compare-n K]

--compare-n K times the two nbgrader runs on K of the N submissions (default: all N; plain nbgrader
takes about 2.7 s each: 13 minutes for 300), the class command on all N. It prints a table, the
ratios, the class command's phases (the sandbox, the recording in nbgrader's gradebook) and CPU
seconds (all its processes: on a machine shared with other work, CPU / cores bounds the wall-clock
time it would take alone), and where the time of one submission goes in the sandbox.
"""
import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from nbgrader_runs import BIN, nbgrader, submissions, submit  # noqa: E402

ASSIGNMENT = "gru"
PLAIN_TESTS = {
    "test_gru_cell": '''cell = nn.GRUCell(4, 3, dtype=torch.float64)
x, h = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
assert torch.allclose(gru_cell(x, h, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh), cell(x, h))''',
    "test_my_gru_contract": '''out = my_gru(torch.randn(2, 5, 4), torch.randn(2, 3), torch.randn(9, 4), torch.randn(9, 3), torch.randn(9), torch.randn(9))
assert isinstance(out, tuple) and out[0].shape == (2, 5, 3) and out[1].shape == (2, 3)''',
    "test_my_gru_values": '''gru = nn.GRU(4, 3, batch_first=True, dtype=torch.float64)
x, h0 = torch.randn(2, 5, 4, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
output, h_final = my_gru(x, h0, gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
assert torch.allclose(output, gru(x, h0[None])[0])''',
    "test_gru_cell_grad": '''cell = nn.GRUCell(4, 3, dtype=torch.float64)
x, h, g = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64, requires_grad=True), torch.randn(2, 3, dtype=torch.float64)
(want,) = torch.autograd.grad(cell(x, h), h, g)
w = [p.detach() for p in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)]
assert torch.allclose(gru_cell_grad(x, h.detach(), *w, g), want)''',
    "test_my_gru_gradients_devices": '''x = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
gru = nn.GRU(4, 3, batch_first=True, dtype=torch.float64)
output, _ = my_gru(x, torch.zeros(2, 3, dtype=torch.float64), gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
output.sum().backward()
assert x.grad is not None''',
}


def course(folder, plain):
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "solutions", folder / "solutions")
    if plain:
        (folder / "nbgrader_config.py").write_text(
            "c = get_config()\nc.CourseDirectory.source_directory = 'solutions'\n"
            "c.CourseDirectory.release_directory = 'exercises'\n")
        path = folder / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in PLAIN_TESTS:
                cell.source = PLAIN_TESTS[grade_id]
            elif grade_id == "setup":
                cell.source = "import os\nimport torch\nfrom torch import nn"
        nbformat.write(nb, path)
    else:
        shutil.copy(ROOT / "nbgrader_config.py", folder)
    nbgrader(["generate_assignment", ASSIGNMENT, "--force"], folder)
    return folder


def timed(command, cwd, log=None):
    """Wall-clock and CPU seconds (the command and every process it waited for) of a command."""
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{done.stderr[-2000:]}")
    if log is not None:
        log.append(done.stderr)
    return wall, after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime


def check_full_marks(folder, n):
    scores = [(score, max_score) for _, _, score, max_score in submissions(folder, ASSIGNMENT)]
    assert len(scores) == n and all(got == full for got, full in scores), f"not all full marks: {scores}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--compare-n", type=int, help="submissions for the two nbgrader runs (default: --n)")
    args = parser.parse_args()
    compare = min(args.compare_n or args.n, args.n)
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ['PATH']}"  # nbgrader runs alembic and jupyter by name
    load_before = f"{os.getloadavg()[0]:.1f}"
    with tempfile.TemporaryDirectory(prefix="bench_grading_") as tmp:
        tmp = Path(tmp)
        plain, sandboxed, whole = (course(tmp / "plain", True), course(tmp / "sandboxed", False),
                                   course(tmp / "class", False))
        counts = {plain: compare, sandboxed: compare, whole: args.n}
        for folder, n in counts.items():  # each its own solution: the plain one has plain tests
            solution = nbformat.read(folder / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
            submit(folder, ASSIGNMENT, solution, n)
        log = []
        measured = {
            "plain": timed([BIN / "nbgrader", "autograde", ASSIGNMENT], plain),
            "sandboxed": timed([BIN / "nbgrader", "autograde", ASSIGNMENT], sandboxed),
            "class": timed([sys.executable, "-m", "gru_ref.grade", ASSIGNMENT, "--workers", str(args.workers)], whole,
                           log),
        }
        for folder, n in counts.items():
            check_full_marks(folder, n)
        results = [json.loads(p.read_text()) for p in (whole / ".gru_ref" / ASSIGNMENT / "results").glob("*.json")]
    n = {"plain": compare, "sandboxed": compare, "class": args.n}
    per = {k: wall / n[k] for k, (wall, _) in measured.items()}
    print(f"{args.n} correct submissions for the class command ({args.workers} worker(s)), {compare} for the two "
          f"nbgrader runs; load average before: {load_before}, after: {os.getloadavg()[0]:.1f}\n")
    print("| how | submissions | seconds in all | seconds per submission | CPU seconds |\n|---|---:|---:|---:|---:|")
    for name, (wall, cpu) in measured.items():
        print(f"| {name} | {n[name]} | {wall:.1f} | {per[name]:.2f} | {cpu:.1f} |")
    phases = re.search(r"\(([0-9.]+) s in the sandbox, workers starting included; ([0-9.]+) s recording\)", log[0])
    if phases:
        print(f"\nclass command: {phases[1]} s running the notebooks (Dask workers and boxes starting included), "
              f"{phases[2]} s recording the grades in nbgrader's gradebook")
    print(f"\nclass command vs plain nbgrader: {per['plain'] / per['class']:.1f}x faster")
    print(f"sandboxed nbgrader vs plain nbgrader: {per['sandboxed'] / per['plain']:.2f}x the time")
    print("\nwhere the time of one submission goes on a worker (median seconds):")
    for part in ("prepare", "run", "judge"):
        print(f"  {part:8s} {statistics.median(r['seconds'][part] for r in results):.3f}")
    print("  (run: the learner's cells and checks in the box; judge: the truth and the verdicts;"
          " the rest is Dask and starting the workers and boxes, then the recording in nbgrader's gradebook)")


if __name__ == "__main__":
    main()
