"""Inside the box: whether the box's own code is still what it was before any learner code ran.

`sealed()` takes a fingerprint of every gru_ref module in the process (what each of its names stands
for, each class's members, what each function's closure holds) and returns a function that says what
changed since, or None. The fingerprint holds the objects themselves and compares them by identity:
an object it holds cannot be freed, so no new one can take its address. It reads nothing that CPython
audits (no `id()`, no `__code__`), so the box's audit hook costs nothing here; the parts of a function
that CPython does audit (its code, defaults and name) cannot be set at all: the hook refuses that for
every object `objects()` returns (gru_ref.grading.native_guard). The fingerprint and the module
objects live only in the closure of the function `sealed()` returns, taken before the learner's code
exists: a name replaced in one of these modules (reached through pkgutil.resolve_name, importlib,
sys.modules or a frame's globals) shows as a change; a module replaced in sys.modules changes nothing
(the box holds its own). The runner calls it before and after each check: a check run with the
grader's code changed fails (gru_ref.grading.runner).
"""
import builtins
import sys
import types

PACKAGE = "gru_ref"
MESSAGE = "the grader's own code was changed before or during this check, which earns no credit: "
_EMPTY = object()  # an empty closure cell, or a name that is gone


def _modules():
    return tuple(module for name, module in sorted(sys.modules.items())
                 if (name == PACKAGE or name.startswith(PACKAGE + ".")) and module is not None) + (builtins,)


def _closure(key, function, seen):
    for i, cell in enumerate(function.__closure__ or ()):  # __closure__: not audited, unlike __code__
        try:
            seen[key + ("cell", i)] = cell.cell_contents
        except ValueError:
            seen[key + ("cell", i)] = _EMPTY


def _fingerprint(modules):
    seen = {}
    for module in modules:
        for name, value in list(vars(module).items()):
            seen[(module.__name__, name)] = value  # what the name stands for, whatever it is
            if isinstance(value, types.FunctionType) and _ours(value):
                _closure((module.__name__, name), value, seen)
            if isinstance(value, type) and _ours(value):
                for attribute, member in list(vars(value).items()):
                    seen[(module.__name__, name, attribute)] = member  # methods, descriptors, data
                    if isinstance(member, types.FunctionType):
                        _closure((module.__name__, name, attribute), member, seen)
    return seen


def _ours(value):
    module = getattr(value, "__module__", None)
    return isinstance(module, str) and (module == PACKAGE or module.startswith(PACKAGE + "."))


def objects():
    """gru_ref's functions and classes in this process, and the functions in those classes: what the
    audit hook protects by identity (a learner who renames a function's __module__ first gains nothing)."""
    found = set()
    for module in _modules()[:-1]:
        for value in list(vars(module).values()):
            if isinstance(value, (type, types.FunctionType)) and _ours(value):
                found.add(value)
                if isinstance(value, type):
                    found.update(m for m in vars(value).values() if isinstance(m, types.FunctionType))
    return frozenset(found)


def sealed():
    """A function that names what changed in the box's own code since now (None if nothing)."""
    modules = _modules()
    baseline, fingerprint, empty = _fingerprint(modules), _fingerprint, _EMPTY

    def changed():
        now = fingerprint(modules)
        different = sorted(".".join(key[:2]) + ("." + key[2] if len(key) > 2 and key[2] != "cell" else "")
                           for key, value in baseline.items() if now.get(key, empty) is not value)
        return ", ".join(dict.fromkeys(different)) or None

    return changed
