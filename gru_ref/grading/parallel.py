"""Trusted: grade many notebooks at once on Dask workers, each with one warm box of its own.

A worker imports torch once (for the judge) and keeps one box (one torch import inside it) for all
the submissions it grades; the learner's code runs only in the box. Each result is written to the
results folder as soon as it is in, under the notebook's fingerprint, so an interrupted run resumes
where it stopped and nothing is run twice.
"""
import json
import logging
import os
import sys
import time

import nbformat

from gru_ref.grading.submission import grade_notebook

_BOX = None


def grade_on_worker(notebook_json, limits):
    """The Dask task: one notebook (as JSON text) -> its result (plain data)."""
    global _BOX
    if _BOX is None:
        from torch import cuda
        from gru_ref.grading.box import Box
        _BOX = Box(gpu=cuda.is_available())
    try:
        return grade_notebook(nbformat.reads(notebook_json, as_version=4), _BOX, limits)
    except Exception as exc:  # a grader failure on one notebook is reported, the batch goes on
        return {"grader_error": f"{type(exc).__name__}: {exc}"}


def start_client(workers, scheduler=None):
    """A client of the cluster at `scheduler`, or of a new local cluster of `workers` processes."""
    from dask.distributed import Client, LocalCluster
    if scheduler:
        return Client(scheduler, timeout=30), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR, memory_limit=0)
    return Client(cluster), cluster


def grade_all(jobs, results_folder, limits, workers, scheduler=None, progress=None):
    """jobs: {fingerprint: notebook JSON}. Grades those without a result in results_folder yet."""
    from dask.distributed import as_completed
    todo = {key: nb for key, nb in jobs.items() if not os.path.exists(result_path(results_folder, key))}
    if not todo:
        return
    client, cluster = start_client(workers, scheduler)
    try:
        futures = {client.submit(grade_on_worker, nb, limits, key=f"grade-{key}", pure=False): key
                   for key, nb in todo.items()}
        for future in as_completed(futures):
            key = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the worker died: its box took it down, say
                result = {"grader_error": f"the worker grading it failed ({type(exc).__name__}: {exc})"}
            save_result(results_folder, key, result)
            if progress:
                progress(key, result)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def result_path(folder, key):
    return os.path.join(folder, f"{key}.json")


def save_result(folder, key, result):
    path = result_path(folder, key)
    with open(path + ".part", "w") as f:
        json.dump(result, f)
    os.replace(path + ".part", path)


class ProgressBar:
    def __init__(self, total, stream=sys.stderr):
        self.total, self.done, self.flagged, self.start, self.stream = total, 0, 0, time.monotonic(), stream

    def __call__(self, key, result):
        self.done += 1
        self.flagged += bool(result.get("flags"))
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        rate = self.done / max(time.monotonic() - self.start, 1e-9)
        self.stream.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} run "
                          f"in the sandbox, {self.flagged} flagged, {rate:.1f}/s ")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()
