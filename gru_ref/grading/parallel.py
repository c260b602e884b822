"""Trusted: grade many notebooks at once on Dask workers, each with one warm box of its own.

A worker imports torch once (for the judge) and keeps one box (one torch import inside it) for all
the submissions it grades; the learner's code runs only in the box. Each result is written to the
results folder as soon as it is in, under the notebook's fingerprint, so an interrupted run resumes
where it stopped and nothing is run twice.

A Dask scheduler runs whatever its clients send on its workers, as the user who started them: the
local cluster listens on loopback only, over TLS with credentials of its own (other users of the
machine cannot join it), and a scheduler elsewhere is used only over TLS with
certificates (check_address, security); plain tcp:// only on loopback. Before any notebook is sent,
gru_ref.grading.gate probes every worker (and any that starts later): one that would grade without
the sandbox (GRU_REF_NO_SANDBOX=1 where the class command has none) or that cannot start it is
refused and named, and the notebooks go only to the others; each task checks again before it grades.
"""
import ipaddress
import json
import logging
import os
import sys
import threading
import time

import nbformat

from gru_ref.grading import interrupt
from gru_ref.grading.box import unsandboxed
from gru_ref.grading.submission import grade_notebook

LOOPBACK = "127.0.0.1"
WORKERS_WAIT_S = 60  # for a scheduler's first worker
CHAPTER = "see the chapter 'For instructors', step 5: Grade"
_LOCAL = threading.local()  # one box per worker thread: a box grades one notebook at a time


class ClusterError(Exception):
    """The cluster cannot be used (safely, or at all); the message says what to do."""


def check_address(scheduler):
    """The scheduler's protocol, "tls" or "tcp"; ClusterError for tcp:// beyond loopback, or another
    protocol: whoever reaches a scheduler runs code on its workers, so only TLS crosses machines."""
    from distributed.comm.addressing import parse_address, parse_host_port
    try:
        protocol, location = parse_address(scheduler)
        host = parse_host_port(location)[0] if protocol in ("tcp", "tls") else ""
    except ValueError:
        raise ClusterError(f"'{scheduler}' is not a Dask scheduler's address (tls://HOST:PORT)") from None
    if protocol == "tls" or (protocol == "tcp" and _loopback(host)):
        return protocol
    raise ClusterError(f"refusing the {protocol}:// scheduler {scheduler}: anyone who reaches a scheduler without "
                       f"TLS runs code on its workers. Start it with TLS and pass tls://HOST:PORT with --tls-ca, "
                       f"--tls-cert and --tls-key ({CHAPTER}), or run the class on this machine (--workers N).")


def _loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name may resolve anywhere


def security(scheduler, ca=None, cert=None, key=None):
    """Dask's Security for a tls:// scheduler: this CA, this client certificate and key (or those of
    Dask's config, distributed.comm.tls), encryption required; None for a loopback tcp:// one."""
    if check_address(scheduler) != "tls":
        return None
    from distributed.security import Security
    tls = Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
    given = {"--tls-ca": tls.tls_ca_file, "--tls-cert": tls.tls_client_cert, "--tls-key": tls.tls_client_key}
    missing = [flag for flag, value in given.items() if not value]
    if missing:
        raise ClusterError(f"a tls:// scheduler needs {', '.join(missing)} (the course's CA, this machine's "
                           f"certificate and key; or Dask's distributed.comm.tls config): {CHAPTER}.")
    for flag, value in given.items():
        if "-----BEGIN" not in value and not os.path.isfile(value):
            raise ClusterError(f"{flag} {value}: no such file.")
    return tls


def check_reachable(scheduler, timeout_s=5):
    """ClusterError, at once, if nothing listens at the scheduler's address (Dask itself would try
    for its whole connect timeout, 30 s, before saying so)."""
    import socket
    from distributed.comm.addressing import parse_address, parse_host_port
    host, port = parse_host_port(parse_address(scheduler)[1])
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} ({why}): check that it runs, its "
                           f"address and the certificates, then grade again ({CHAPTER}).") from None


def grade_on_worker(notebook_json, limits, sandboxed=True, keys=None):
    """The Dask task: one notebook (as JSON text) -> its result (plain data). sandboxed: the class
    command grades in the sandbox, so this worker must too (whatever a probe said earlier). keys: the
    learner's keys of the cases (gru_ref.judge.secret), never the course's secret."""
    if sandboxed and unsandboxed():
        return {"grader_error": "this Dask worker has GRU_REF_NO_SANDBOX=1 and would grade without the sandbox: "
                                "restart it without that variable"}
    if getattr(_LOCAL, "box", None) is None:
        from torch import cuda
        from gru_ref.grading.box import Box
        _LOCAL.box = Box(gpu=cuda.is_available())
    try:
        return grade_notebook(nbformat.reads(notebook_json, as_version=4), _LOCAL.box, limits, keys)
    except Exception as exc:  # a grader failure on one notebook is reported, the batch goes on
        return {"grader_error": f"{type(exc).__name__}: {exc}"}


def start_client(workers, scheduler=None, tls=None):
    """A client of the cluster at `scheduler` (tls: its Security), or of a new local cluster of
    `workers` processes, whose scheduler, nannies and workers listen on loopback only, over TLS."""
    from dask.distributed import Client, LocalCluster
    from distributed.security import Security
    if scheduler:
        try:
            return Client(scheduler, security=tls), None  # Dask's connect timeout (distributed.comm.timeouts)
        except Exception as exc:  # refused, timed out, a certificate not accepted
            why = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler} ({why}): check that it runs, its "
                               f"address and the certificates, then grade again ({CHAPTER}).") from None
    # TLS with credentials made for this run, kept in memory: no other user of this machine gets in.
    # Its processes never see a terminal's Ctrl-C: the class command stops them (gru_ref.grading.interrupt).
    interrupt.spared_children()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host=LOOPBACK,
                           security=Security.temporary(), dashboard_address=None, silence_logs=logging.ERROR,
                           memory_limit=0)
    return Client(cluster), cluster


def good_workers(client, expected=None, stream=sys.stderr):
    """The addresses of the workers that the gate (gru_ref.grading.gate) lets grade; the others are
    named on stream. Waits for `expected` workers (a local cluster's), or a scheduler's first one."""
    from gru_ref.grading import gate
    try:
        client.wait_for_workers(expected or 1, timeout=WORKERS_WAIT_S)
    except Exception:
        raise ClusterError(f"the Dask scheduler has no worker after {WORKERS_WAIT_S} s: start `dask worker` on "
                           f"the grading machines ({CHAPTER}), then grade again.") from None
    client.register_plugin(gate.SandboxGate(not unsandboxed()), name=gate.SandboxGate.name)  # probes them all
    verdicts = client.run(gate.verdict)
    for address, why in sorted(verdicts.items()):
        if why:
            stream.write(f"Refusing the Dask worker {address}: {why}.\n")
    good = sorted(address for address, why in verdicts.items() if not why)
    if not good:
        named = "; ".join(f"{address}: {why}" for address, why in sorted(verdicts.items()))
        raise ClusterError(f"no Dask worker can grade safely ({named}): fix the workers as said, then grade again.")
    return good


def grade_all(jobs, results_folder, limits, workers, scheduler=None, progress=None, tls=None):
    """jobs: {fingerprint: notebook JSON, or (notebook JSON, the learner's keys of the cases)}. Grades
    those without a result in results_folder yet."""
    from dask.distributed import as_completed
    from gru_ref.grading.gate import RESOURCE
    todo = {key: nb for key, nb in jobs.items() if not done(results_folder, key)}
    if not todo:
        return
    client, cluster = start_client(workers, scheduler, tls)
    stopping = False
    try:
        good_workers(client, None if scheduler else workers)
        sandboxed = not unsandboxed()
        jobs = {key: job if isinstance(job, tuple) else (job, None) for key, job in todo.items()}
        futures = {client.submit(grade_on_worker, nb, limits, sandboxed, keys, key=f"grade-{key}", pure=False,
                                 resources={RESOURCE: 1}): key  # only workers that the gate let in
                   for key, (nb, keys) in jobs.items()}
        for future in as_completed(futures):
            key = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the worker died: its box took it down, say
                result = {"grader_error": f"the worker grading it failed ({type(exc).__name__}: {exc})"}
            save_result(results_folder, key, result)
            if progress:
                progress(key, result)
    except KeyboardInterrupt:  # Ctrl-C: what is saved stays; the class command ends the cluster at once
        stopping = True
        raise
    finally:
        if not stopping:
            client.close()
            if cluster is not None:
                cluster.close()


def result_path(folder, key):
    return os.path.join(folder, f"{key}.json")


def done(folder, key):
    """Whether the notebook has its result: one where the grader failed (a worker that died, a
    run stopped meanwhile) is graded again by the next run, never left as an error."""
    try:
        with open(result_path(folder, key)) as f:
            return "grader_error" not in json.load(f)
    except (OSError, ValueError):
        return False


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
