"""Benchmark (not a test): how reliably the train_gru solution passes, retrained on many fresh draws.

    .venv/bin/python tools/bench_train_gru.py [--draws 40] [--first 0] [--H 64] [--steps 600]

Each draw is what a check gives train_and_predict: chapter 7's task at T = 20, 2000 training and 1000
held-out sequences, the classes relabelled at random (gru_ref.assignments.train_gru, generator seed = the draw's
number), torch.manual_seed(draw % 3) before the call, one CPU thread. It runs the answer of
tests/train_code.py with the hidden size and steps given, in this process (no sandbox: it is the
instructors' own code), and prints each draw's held-out accuracy and seconds, then how many fell
below the checker's threshold. Run two at once with other --first values to use both cores.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import define  # noqa: E402
import train_code  # noqa: E402
from gru_ref.assignments.train_gru import THRESHOLD, TrainCase, TrainTask  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=40)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--H", type=int, default=64)
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in the grader's sandbox
    answer = train_code.RIGHT["train_and_predict"]
    changed = answer.replace("GRUClassifier(F, 64, K)", f"GRUClassifier(F, {args.H}, K)").replace(
        "train(model, train_x, train_y)", f"train(model, train_x, train_y, steps={args.steps})")
    train_and_predict = define(train_code.source(train_and_predict=changed))["train_and_predict"]
    task, accuracies = TrainTask(), []
    for draw in range(args.first, args.first + args.draws):
        case = TrainCase(2000, 1000, torch_seed=draw % 3)
        inputs = task.make_inputs(case, torch.Generator().manual_seed(draw))
        torch.manual_seed(case.torch_seed)
        start = time.perf_counter()
        logits = train_and_predict(inputs["train_x"], inputs["train_y"], inputs["test_x"])
        accuracies.append(task.accuracy(inputs, logits))
        print(f"draw {draw}: held-out accuracy {accuracies[-1]:.3f}, {time.perf_counter() - start:.1f} s", flush=True)
    below = sum(a < THRESHOLD for a in accuracies)
    print(f"H = {args.H}, {args.steps} steps: {below} of {len(accuracies)} draws below {THRESHOLD:.0%}; "
          f"lowest {min(accuracies):.3f}")


if __name__ == "__main__":
    main()
