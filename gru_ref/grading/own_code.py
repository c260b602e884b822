"""Inside the box: whether the box's own code is still what it was before any learner code ran.

`sealed()` takes a fingerprint of every gru_ref module in the process (the identity of what each
of its names stands for; each function's code, defaults and closure; each class's methods) and returns a function that says what changed since, or None. The fingerprint
and the module objects live only in that function's closure, taken before the learner's code exists:
a name replaced in one of these modules (reached through pkgutil.resolve_name, importlib, sys.modules or
a frame's globals) shows as a change; a module replaced in sys.modules changes nothing (the box holds
its own). The runner calls it before and after each check: a check run
with the grader's code changed fails (gru_ref.grading.runner).
"""
import builtins
import sys
import types

PACKAGE = "gru_ref"
MESSAGE = "the grader's own code was changed before or during this check, which earns no credit: "


def _function_parts(function):
    cells = tuple(id(cell.cell_contents) if _filled(cell) else None for cell in function.__closure__ or ())
    return (id(function.__code__), id(function.__defaults__),
            tuple(sorted((k, id(v)) for k, v in (function.__kwdefaults__ or {}).items())), cells)


def _filled(cell):
    try:
        cell.cell_contents
        return True
    except ValueError:
        return False


def _fingerprint(modules):
    seen = {}
    for module in modules:
        for name, value in list(vars(module).items()):
            seen[(module.__name__, name)] = id(value)  # what the name stands for, whatever it is
            if isinstance(value, types.FunctionType) and _ours(value):
                seen[(module.__name__, name, "parts")] = _function_parts(value)
            if isinstance(value, type) and _ours(value):
                for attribute, member in list(vars(value).items()):
                    seen[(module.__name__, name, attribute)] = id(member)  # methods, descriptors, data
                    if isinstance(member, types.FunctionType):
                        seen[(module.__name__, name, attribute, "parts")] = _function_parts(member)
    return seen


def _ours(value):
    module = getattr(value, "__module__", None)
    return isinstance(module, str) and (module == PACKAGE or module.startswith(PACKAGE + "."))


def sealed():
    """A function that names what changed in the box's own code since now (None if nothing)."""
    modules = tuple(module for name, module in sorted(sys.modules.items())
                    if (name == PACKAGE or name.startswith(PACKAGE + ".")) and module is not None) + (builtins,)
    baseline, fingerprint = _fingerprint(modules), _fingerprint

    def changed():
        now = fingerprint(modules)
        different = sorted(".".join(key[:2]) + ("." + key[2] if len(key) > 2 and key[2] != "parts" else "")
                           for key in baseline if now.get(key) != baseline[key])
        return ", ".join(dict.fromkeys(different)) or None

    return changed
