"""How long the website takes to build: cold (fresh output folder, empty execution cache) and cached.

    .venv/bin/python tools/bench_build.py            # clean build, then the cached rebuild
    .venv/bin/python tools/bench_build.py --all      # also a rebuild that re-reads every page

Each build is `jupyter-book build . -W -n --keep-going` with GRU_BOOK_BUILD=1, as `make site` runs
it, but into a temporary --path-output so that the repository's own _build/ is left alone (chapter 7
trains its check seed again in every clean build: it keeps no cache of its own). A build that fails
stops the benchmark: a time for a broken build means nothing.
"""
import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(out_dir, *extra):
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jupyter_book), "build", ".", "--path-output", str(out_dir), "-W", "-n", "--keep-going", *extra]
    env = dict(os.environ, GRU_BOOK_BUILD="1")
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"build failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--all", action="store_true", help="also time a rebuild that re-reads every page (-a)")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="gru-book-bench-") as tmp:
        rows.append(("clean build (fresh output, cold execution cache)", build(tmp)))
        rows.append(("cached rebuild (same output, nothing changed)", build(tmp)))
        if args.all:
            rows.append(("rebuild of every page (-a, execution cache warm)", build(tmp, "--all")))

    width = max(len(name) for name, _ in rows)
    print(f"Website build time on {platform.node()} ({os.cpu_count()} CPUs, Python {platform.python_version()})")
    print(f"{'build':<{width}}  seconds")
    print(f"{'-' * width}  -------")
    for name, seconds in rows:
        print(f"{name:<{width}}  {seconds:7.1f}")


if __name__ == "__main__":
    main()
