"""How long the checks take for a correct answer (a benchmark, not a test).

    .venv/bin/python tools/bench_checker.py

Times each part of check_my_gru / check_gru_cell for the reference loop, after the judge process has
started (its start, mostly importing torch, is timed on its own), the way a notebook session sees it.
"""
import time

import torch

from gru_ref import gru_cell, gru_sequence
from gru_ref.learner.check import judge_function

PARTS = ("contract", "quick", "values", "gradients", "devices")


def timed(task, fn, parts):
    start = time.perf_counter()
    verdict = judge_function(task, fn, parts)
    assert verdict["passed"], verdict["message"]
    return time.perf_counter() - start


def main():
    torch.set_num_threads(1)
    print(f"{'check':<42} {'seconds':>8}")
    print(f"{'first check (starts the judge)':<42} {timed('my_gru', gru_sequence, ('contract',)):8.2f}")
    for part in PARTS:
        print(f"{'my_gru ' + part:<42} {timed('my_gru', gru_sequence, (part,)):8.2f}")
    print(f"{'my_gru, all parts in one check':<42} {timed('my_gru', gru_sequence, PARTS):8.2f}")
    print(f"{'gru_cell, all parts in one check':<42} {timed('gru_cell', gru_cell, PARTS):8.2f}")


if __name__ == "__main__":
    main()
