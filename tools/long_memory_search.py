"""Search for chapter 7's settings, and write the runs the chapter plots (book/long_memory_runs.json).

    OMP_NUM_THREADS=1 .venv/bin/python tools/long_memory_search.py --T 30 60 --steps 1500
    OMP_NUM_THREADS=1 .venv/bin/python tools/long_memory_search.py --write

The first form trains every model of book/long_memory.py on every seed at each length and prints a
table: per model and seed, the final held-out accuracy and the step that first reached 90 %. The
second trains the chapter's own settings (book/long_memory.py's EXPERIMENT) and writes them to
book/long_memory_runs.json, with the fingerprint of the code that made them; the build re-runs one
seed per model and fails if it disagrees. Runs go to --jobs worker processes (2 by default).
The book's execution cache keys chapter 7 on its cells only: after --write, `rm -rf _build` and build.
"""
import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book"))
import long_memory as lm  # noqa: E402


def one_run(args):
    name, T, seed, steps, clue_span = args
    import torch
    torch.set_num_threads(1)        # as the chapter's own runs (long_memory._train_model)
    torch.set_flush_denormal(True)
    start = time.perf_counter()
    history = lm.train(*lm.MODELS[name], T, seed, steps, clue_span)
    return name, T, seed, history, time.perf_counter() - start


def run_all(jobs, n_workers):
    if n_workers > 1:
        with multiprocessing.get_context("fork").Pool(n_workers) as pool:
            return pool.map(one_run, jobs, chunksize=1)
    return [one_run(job) for job in jobs]


def table(results, steps):
    print(f"{'T':>4} {'model':<22} {'final accuracy per seed (%)':<34} {'steps to 90 %':<34} s/run")
    by_key = {}
    for name, T, seed, history, seconds in results:
        by_key.setdefault((T, name), []).append((seed, history, seconds))
    for (T, name), rows in sorted(by_key.items()):
        rows.sort()
        finals = " ".join(f"{100 * h['accuracy'][-1]:3.0f}" for _, h, _ in rows)
        firsts = " ".join(str(next((s for s, a in zip(h["step"], h["accuracy"]) if a >= lm.SOLVED), "-"))
                          for _, h, _ in rows)
        mean_s = sum(s for *_, s in rows) / len(rows)
        print(f"{T:>4} {name:<22} {finals:<34} {firsts:<34} {mean_s:5.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--T", type=int, nargs="+", default=[lm.EXPERIMENT["T"]])
    parser.add_argument("--steps", type=int, default=lm.EXPERIMENT["steps"])
    parser.add_argument("--clue-span", type=int, default=None,
                        help="the clue is at a random step among the first CLUE_SPAN (default: T // 2)")
    parser.add_argument("--seeds", type=int, default=len(lm.EXPERIMENT["seeds"]))
    parser.add_argument("--models", nargs="+", default=list(lm.MODELS), choices=list(lm.MODELS))
    parser.add_argument("--batch", type=int, default=lm.BATCH)
    parser.add_argument("--lr", type=float, default=lm.LR)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--write", action="store_true",
                        help=f"train the chapter's settings and write {lm.DATA.name}")
    args = parser.parse_args()
    if os.environ.get("OMP_NUM_THREADS") != "1":
        print("note: set OMP_NUM_THREADS=1 (the machine is shared)", file=sys.stderr)

    if not args.write:  # the workers fork after this: they train with these settings
        lm.BATCH, lm.LR = args.batch, args.lr
    if args.write:
        exp = lm.EXPERIMENT
        jobs = [(name, exp["T"], seed, exp["steps"], exp["clue_span"]) for name in lm.MODELS for seed in exp["seeds"]]
    else:
        jobs = [(name, T, seed, args.steps, args.clue_span or T // 2)
                for T in args.T for name in args.models for seed in range(args.seeds)]
    start = time.perf_counter()
    results = run_all(jobs, args.jobs)
    print(f"{len(jobs)} runs in {time.perf_counter() - start:.0f} s on {args.jobs} worker(s)")
    table(results, args.steps)
    if args.write:
        runs = {name: [] for name in lm.MODELS}
        for name, _, seed, history, _ in sorted(results, key=lambda r: (r[0], r[2])):
            runs[name].append(history)
        lm.write_runs(runs)
        print(f"wrote {lm.DATA}")


if __name__ == "__main__":
    main()
