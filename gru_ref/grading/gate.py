"""Trusted: which Dask workers may grade. A worker plugin probes every worker of the cluster, now and
whenever one starts or restarts: one that would grade without the sandbox while the class command
grades in it (GRU_REF_NO_SANDBOX=1 in its environment only), or that cannot start the sandbox, is
refused; the others get the resource RESOURCE, which every grading task asks for. So notebooks go
only to workers that passed, a restarted worker is probed again, and one that joins late still
gets work if it passes.
"""
import asyncio
import logging

from distributed.diagnostics.plugin import WorkerPlugin

from gru_ref.grading import bwrap
from gru_ref.grading.box import unsandboxed

RESOURCE = "gru_ref_sandbox"


def probe(sandboxed):
    """None if this process can grade as the class command asks (sandboxed or not), or why not."""
    if sandboxed and unsandboxed():
        return "its environment has GRU_REF_NO_SANDBOX=1: it would grade without the sandbox"
    if not unsandboxed():
        try:
            bwrap.check()
        except bwrap.SandboxUnavailable as exc:
            return f"it cannot start the sandbox: {str(exc).splitlines()[0]}"
    return None


class SandboxGate(WorkerPlugin):
    name = "gru-ref-sandbox-gate"

    def __init__(self, sandboxed):
        self.sandboxed, self.refused = sandboxed, "not probed yet"

    async def setup(self, worker):
        self.refused = await asyncio.to_thread(probe, self.sandboxed)  # bwrap.check: up to 60 s
        if self.refused:
            logging.getLogger("distributed.worker").warning("gru_ref will not grade here: %s", self.refused)
        await worker.set_resources(**{RESOURCE: 0 if self.refused else worker.state.nthreads})


def verdict(dask_worker):
    """Run on a worker (Client.run): None if its gate let it grade, or why not."""
    gate = dask_worker.plugins.get(SandboxGate.name)
    return gate.refused if gate is not None else "it was not probed"
