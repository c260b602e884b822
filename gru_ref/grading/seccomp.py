"""A seccomp filter (through libseccomp) that the kernel enforces on a process and all it starts,
for good: no new programs, no new processes, no tracing or signalling of any other process.

Loaded inside the sandbox by our own code before any learner code runs. Once loaded, nothing in the
process can lift it: this is the wall behind which the in-process built-in-GRU switch-off cannot be
escaped by starting a fresh Python.
"""
import ctypes
import ctypes.util
import errno

SCMP_ACT_ALLOW = 0x7FFF0000
CLONE_THREAD = 0x00010000
SCMP_CMP_NE, SCMP_CMP_MASKED_EQ = 1, 7

# Denied outright: starting programs, tracing, namespaces and mounts, kernel facilities a GRU never needs.
DENIED = ("execve", "execveat", "fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev",
          "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "mount", "umount2", "unshare", "setns",
          "chroot", "pivot_root", "bpf", "perf_event_open", "keyctl", "add_key", "request_key",
          "userfaultfd", "io_uring_setup", "kexec_load", "init_module", "finit_module", "reboot",
          "swapon", "swapoff",
          # An anonymous file a library could be loaded from, on no mount's noexec (the scratch folders have it).
          "memfd_create", "memfd_secret",
          # System V IPC outlives the process that made it: nothing of one submission may meet the next.
          "shmget", "msgget", "semget", "mq_open")


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


class SeccompUnavailable(RuntimeError):
    pass


def _library():
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name, use_errno=True)
    except OSError:
        raise SeccompUnavailable("libseccomp is not installed (Debian/Ubuntu: apt-get install libseccomp2)") \
            from None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def available():
    try:
        _library()
        return True
    except SeccompUnavailable:
        return False


def _errno(code):
    return 0x00050000 | (code & 0xFFFF)  # SCMP_ACT_ERRNO: the call fails with this errno


def confine(own_pid):
    """Load the filter into this process. Threads stay allowed (torch uses them); signals may go only
    to this process itself (own_pid), so the learner can neither kill the grader nor anything else."""
    lib = _library()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise SeccompUnavailable("seccomp_init failed")
    try:
        def rule(name, action, *comparisons):
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:
                return  # not a system call on this architecture
            array = (_ArgCmp * max(1, len(comparisons)))(*comparisons)
            if lib.seccomp_rule_add_array(ctx, action, number, len(comparisons), array) != 0:
                raise SeccompUnavailable(f"cannot add a seccomp rule for {name}")

        eperm = _errno(errno.EPERM)
        for name in DENIED:
            rule(name, eperm)
        rule("clone", eperm, _ArgCmp(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0))  # a process, not a thread
        rule("clone3", _errno(errno.ENOSYS))  # flags sit in memory, out of the filter's sight: glibc
        # falls back to clone, which the rule above can read
        for name in ("kill", "tgkill"):
            rule(name, eperm, _ArgCmp(0, SCMP_CMP_NE, own_pid, 0))
        rule("tkill", eperm)
        if lib.seccomp_load(ctx) != 0:
            raise SeccompUnavailable("the kernel refused the seccomp filter")
    finally:
        lib.seccomp_release(ctx)
