"""Benchmark (not a test): how reliably and how fast the train_gru solution passes, retrained on many
fresh draws, and what one graded submission of it costs.

    OMP_NUM_THREADS=1 .venv/bin/python tools/bench_train_gru.py [--draws 40] [--first 0]
    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python tools/bench_train_gru.py --submissions 4

Retrains (the default): each draw is what a check gives train_and_predict: the task of
gru_ref.assignments.train_gru at T = 20, 2000 training and 1000 held-out sequences, the classes
relabelled at random (generator seed = the draw's number), torch.manual_seed(draw % 3) before the
call, one CPU thread. It runs the answer of tests/train_code.py (the notebook's solution) in this
process (no sandbox: it is the instructors' own code), and prints each draw's held-out accuracy, wall
and CPU seconds, then how many fell below the checker's threshold. Run two at once with other --first
values to use both cores.

--submissions N: the solution notebook graded N times as the grader grades it (grade_notebook in one
warm sandbox: its cells and its four test cells, my_gru, then the contract and three retrains), and
the seconds each took, wall-clock and CPU (this process, where the judge runs, and the box's
processes, read from /proc); the first also starts the box (torch imported) and is left out of the
medians. Pin it to one core with taskset -c 0 to measure one core; on a machine shared with other
work the CPU seconds are the steadier figure.
"""
import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import define  # noqa: E402
import train_code  # noqa: E402
from gru_ref.assignments.train_gru import THRESHOLD, TrainCase, TrainTask  # noqa: E402


def cpu_seconds():
    """CPU time of this process and of its children that have ended (user and system)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def retrains(first, draws):
    torch.set_num_threads(1)  # as in the grader's sandbox
    train_and_predict = define(train_code.source())["train_and_predict"]
    task, accuracies, walls, cpus = TrainTask(), [], [], []
    for draw in range(first, first + draws):
        case = TrainCase(2000, 1000, torch_seed=draw % 3)
        inputs = task.make_inputs(case, torch.Generator().manual_seed(draw))
        torch.manual_seed(case.torch_seed)
        start, cpu = time.perf_counter(), cpu_seconds()
        logits = train_and_predict(inputs["train_x"], inputs["train_y"], inputs["test_x"])
        walls.append(time.perf_counter() - start)
        cpus.append(cpu_seconds() - cpu)
        accuracies.append(task.accuracy(inputs, logits))
        print(f"draw {draw}: held-out accuracy {accuracies[-1]:.3f}, {walls[-1]:.1f} s wall, {cpus[-1]:.1f} s CPU",
              flush=True)
    below = sum(a < THRESHOLD for a in accuracies)
    print(f"{below} of {len(accuracies)} draws below {THRESHOLD:.0%}; lowest {min(accuracies):.3f}; per retrain: "
          f"CPU median {statistics.median(cpus):.2f} s, max {max(cpus):.2f} s; wall median "
          f"{statistics.median(walls):.2f} s, max {max(walls):.2f} s")


def tree_cpu_seconds(pid):
    """CPU time of a process and all its descendants, ended ones that were waited for included (Linux)."""
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        stats[int(stat.parent.name)] = (int(fields[1]), sum(int(f) for f in fields[11:15]))  # ppid, CPU ticks
    tree, ticks = {pid}, 0
    for _ in range(16):  # the box's depth: bwrap, the template, a notebook's child
        tree |= {p for p, (ppid, _) in stats.items() if ppid in tree}
    ticks = sum(stats[p][1] for p in tree if p in stats)
    return ticks / os.sysconf("SC_CLK_TCK")


def submissions(n):
    import nbformat
    from gru_ref.grading.box import Box
    from gru_ref.grading.submission import grade_notebook
    solution = nbformat.read(ROOT / "solutions" / "train_gru" / "train_gru.ipynb", as_version=4)
    box, walls, cpus = Box(), [], []
    try:
        for i in range(n):
            nb = nbformat.from_dict(solution)
            nb.cells.append(nbformat.v4.new_markdown_cell(f"submission {i}"))  # no two alike
            box_cpu = tree_cpu_seconds(box.process.pid) if box.process else None
            start, cpu = time.perf_counter(), cpu_seconds()
            result = grade_notebook(nb, box)
            walls.append(time.perf_counter() - start)
            failed = [test for test, r in result["tests"].items() if not r.get("passed")]
            if failed:
                raise SystemExit(f"the solution failed {failed}: {result['tests']}")
            if box_cpu is not None:  # the first one starts the box (torch imported): left out
                cpus.append(cpu_seconds() - cpu + tree_cpu_seconds(box.process.pid) - box_cpu)
            print(f"submission {i}: {walls[-1]:.2f} s wall" + (f", {cpus[-1]:.2f} s CPU" if box_cpu is not None
                                                             else " (the box starting included)"), flush=True)
    finally:
        box.close()
    warm = walls[1:] or walls
    print(f"{n} submissions of the solution, all tests passed; per submission in a warm box: wall median "
          f"{statistics.median(warm):.2f} s, max {max(warm):.2f} s" +
          (f"; CPU median {statistics.median(cpus):.2f} s, max {max(cpus):.2f} s" if cpus else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=40)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--submissions", type=int, default=0, help="grade the solution notebook N times instead")
    args = parser.parse_args()
    if args.submissions:
        submissions(args.submissions)
    else:
        retrains(args.first, args.draws)


if __name__ == "__main__":
    main()
