"""Inside the box, in the child, before any learner code: an audit hook (sys.addaudithook; nothing in
the process can remove one) that refuses every route to native code on purpose it knows of, and
the changes to the box's own functions that CPython audits.

Refused, with "native code is not allowed in grading: ...": ctypes (every one of its audit events:
loading a library, finding a symbol, calling a function, reading or writing an address), importing
another foreign-function interface (cffi) or CPython's test modules (raw memory by design), crafting a
code object (bytecode that reads past its constants reaches any address), opening a process's memory
(/proc/<pid>/mem, however the path is spelled) and a symbolic link (one would spell that path out of
sight). A library of the learner's own cannot be loaded either: the scratch folders are noexec, and
seccomp refuses memfd_create (gru_ref.grading.scratch, seccomp). Refused, with "the
grader's own code cannot be changed in grading: ...": setting a function of gru_ref's code, defaults
or name (CPython audits these, not a class's attributes: gru_ref.grading.own_code sees those), a trace
or profile function (it could rewrite the grader's variables as they run) and the garbage collector's
lists of objects (the way to the references the grader keeps out of sight).

Each refusal is also kept in REFUSED, so that a check during which one happened fails with its reason
even when the learner's code caught the error. The hook is a closure that nothing else holds: once
installed, there is no Python object to reach it by.
"""
import os
import sys

PACKAGE = "gru_ref"
# Foreign-function interfaces and modules built to reach raw memory, refused at import.
NATIVE_MODULES = frozenset({"cffi", "_cffi_backend", "_testcapi", "_testinternalcapi", "_testbuffer",
                            "_testmultiphase", "_testsinglephase", "_testimportmultiple", "_xxtestfuzz"})
NATIVE_EVENTS = {"code.__new__": "a code object built by hand", "os.symlink": "a symbolic link"}
OWN_CODE_EVENTS = {"sys.settrace": "a trace function", "sys.setprofile": "a profile function",
                   "gc.get_objects": "gc.get_objects", "gc.get_referrers": "gc.get_referrers",
                   "gc.get_referents": "gc.get_referents"}
NATIVE_MESSAGE = "native code is not allowed in grading: "
OWN_CODE_MESSAGE = "the grader's own code cannot be changed in grading: "

REFUSED = []  # the reason of every refusal since install(), in order


class RefusedInGrading(PermissionError):
    """Raised by the audit hook into the code that tried (a PermissionError: `except OSError` in a
    learner's code catches it, and the check fails all the same)."""


def install(protected=frozenset()):
    """Add the hook to this process, for good. Call once, after the box's own ctypes work is done.
    `protected`: the box's own functions and classes (own_code.objects()), refused changes by identity."""
    refused, realpath, join, basename, normpath, getcwd = (REFUSED, os.path.realpath, os.path.join,
                                                           os.path.basename, os.path.normpath, os.getcwd)
    own_code_message, native_message, native_events, own_code_events, native_modules = (
        OWN_CODE_MESSAGE, NATIVE_MESSAGE, dict(NATIVE_EVENTS), dict(OWN_CODE_EVENTS), NATIVE_MODULES)
    refusal, package, fspath, protected = RefusedInGrading, PACKAGE, os.fsdecode, frozenset(protected)
    watched = frozenset({"import", "open", "object.__setattr__", "object.__delattr__"}
                        | set(native_events) | set(own_code_events))
    function_type = type(install)

    def refuse(message):
        refused.append(message)
        raise refusal(message)

    def is_process_memory(path):
        if isinstance(path, int) or path is None:
            return False  # an open file descriptor: opening the file itself was checked
        path = fspath(path)
        if basename(normpath(path)) == "mem":  # relative to a folder's descriptor, or /proc/<pid>/mem
            return True
        try:
            resolved = realpath(join(getcwd(), path))
        except (OSError, ValueError):
            return False
        return resolved.startswith("/proc/") and basename(resolved) == "mem"

    def own(target):
        if not isinstance(target, (type, function_type)):
            return False
        try:
            if target in protected:  # by identity: whatever its __module__ says now
                return True
        except TypeError:  # a class whose metaclass made it unhashable: not one of ours
            pass
        module = getattr(target, "__module__", None)
        return isinstance(module, str) and (module == package or module.startswith(package + "."))

    def hook(event, args):
        # Called for every audited event in the process (builtins.id, object.__getattr__ ...): the
        # common ones leave after one set lookup and one prefix test.
        if event not in watched and not event.startswith("ctypes."):
            return
        if event.startswith("ctypes."):
            refuse(native_message + f"ctypes ({event})")
        elif event == "import" and args and not native_modules.isdisjoint(str(args[0]).split(".")):  # x._cffi_backend too
            refuse(native_message + f"importing {args[0]}")
        elif event in native_events:
            refuse(native_message + native_events[event])
        elif event == "open" and args and is_process_memory(args[0]):
            refuse(native_message + f"opening a process's memory ({fspath(args[0])})")
        elif event in own_code_events:
            refuse(own_code_message + own_code_events[event])
        elif event in ("object.__setattr__", "object.__delattr__") and args and own(args[0]):
            refuse(own_code_message + f"{getattr(args[0], '__qualname__', '?')}.{args[1]} changed")

    sys.addaudithook(hook)
