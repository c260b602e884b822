"""Probe (not a test): what torch needs once imported if no new executable mapping is allowed. Loads a
seccomp rule that refuses mmap/mprotect/pkey_mprotect with PROT_EXEC in this process, then runs what
a notebook of this course might, and prints ok or the failure of each. It is why the box has no
such rule (README, "How grading works"):

    .venv/bin/python tools/probe_exec_mappings.py
"""
import errno
import mmap

import torch

from gru_ref.grading import seccomp
from gru_ref.grading.seccomp import SCMP_CMP_MASKED_EQ, _ArgCmp, _errno, _library

PROT_EXEC = 4


def refuse_exec_mappings():
    lib = _library()
    ctx = lib.seccomp_init(seccomp.SCMP_ACT_ALLOW)
    for name in ("mmap", "mprotect", "pkey_mprotect"):
        number = lib.seccomp_syscall_resolve_name(name.encode())
        exec_bit = (_ArgCmp * 1)(_ArgCmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))
        assert lib.seccomp_rule_add_array(ctx, _errno(errno.EPERM), number, 1, exec_bit) == 0
    assert lib.seccomp_load(ctx) == 0


def attempt(label, action):
    try:
        action()
        print(f"{label}: ok")
    except BaseException as exc:  # noqa: BLE001 (what fails, whatever it raises)
        print(f"{label}: fails, {type(exc).__name__}: {str(exc)[:100]}")


if __name__ == "__main__":
    refuse_exec_mappings()
    x = torch.randn(8, 5, 16, dtype=torch.float64)
    attempt("matmul, float64", lambda: x @ torch.randn(16, 48, dtype=torch.float64))
    attempt("matmul, float32, 256x512x512", lambda: torch.randn(256, 512) @ torch.randn(512, 512))
    attempt("backward", lambda: torch.randn(4, 4, requires_grad=True).sigmoid().sum().backward())
    attempt("conv2d on the CPU", lambda: torch.nn.functional.conv2d(torch.randn(2, 3, 32, 32), torch.randn(8, 3, 3, 3)))
    attempt("Adam's first step", lambda: torch.optim.Adam(torch.nn.Linear(4, 4).parameters()).step())
    attempt("import sqlite3 (a C extension not yet loaded)", lambda: __import__("sqlite3"))
    attempt("an anonymous executable mapping", lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC))
