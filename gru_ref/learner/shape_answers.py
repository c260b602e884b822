"""The learner's side of the shapes assignment: an answer made of Python ints, as int64 tensors.

The shapes functions return plain data, such as `((8, 16, 15, 15), [(16, 3, 3, 3), (16,)], 448)`.
Before anything crosses to the judge, `encode` turns it into int64 tensors, or says in one sentence
what is wrong with it. It reads the answer without running the learner's code: containers are read
through tuple's and list's own methods (an overridden __len__, __iter__ or __getitem__ is never
called), numbers through int's own (a lying __index__ or __int__ is never called) or, for numpy's
integer types (numpy.int64 from np.prod, say), through numpy's own C code (those types are exact and
immutable: no learner's method runs), and nothing else is accepted: no bool, no float, no generator,
no tensor, no nesting deeper than the layout, no number too large for int64. The judge checks the tensors again and decides; a sentence from here can
only fail a case.

Layout of an answer, given by the judge: a list of (name, kind) with kind
    "shape"   a tuple or list of ints (torch.Size is a tuple)        -> one 1-D tensor
    "shapes"  a tuple or list of shapes                               -> two 1-D tensors: the number
              of axes of each shape, then all their sizes end to end
    "count"   an int                                                  -> one 0-D tensor
"""
import operator

import torch

try:  # numpy's integer types as numpy made them, taken before any learner code runs (exact types only)
    import numpy
    NUMPY_INTS = frozenset(t for t in numpy.sctypeDict.values() if isinstance(t, type)
                           and issubclass(t, numpy.integer) and not issubclass(t, numpy.timedelta64))
except ImportError:  # no numpy, no numpy ints to read
    NUMPY_INTS = frozenset()

MAX_AXES = 8  # per shape: nn.Conv2d's weight has 4
MAX_SHAPES = 256  # per list of shapes: a 4-layer bidirectional GRU has 32 parameters
LARGEST = 1 << 62  # far beyond any parameter count here, far within int64


class Unreadable(ValueError):
    """The answer is not of the form asked for; the message says what and where."""


def encode(answer, layout):
    """answer -> [int64 tensors], or raise Unreadable with a message for the learner."""
    names = ", ".join(name for name, _ in layout)
    items = _sequence(answer, "the return value", len(layout), what=f"({names})")
    tensors = []
    for item, (name, kind) in zip(items, layout):
        if kind == "shape":
            tensors.append(_tensor(_shape(item, name)))
        elif kind == "shapes":
            shapes = [_shape(s, f"{name}[{i}]") for i, s in enumerate(_sequence(item, name, limit=MAX_SHAPES))]
            tensors += [_tensor([len(s) for s in shapes]), _tensor([n for s in shapes for n in s])]
        elif kind == "count":
            tensors.append(torch.tensor(_int(item, name), dtype=torch.int64))
        else:
            raise ValueError(f"unknown kind {kind!r} in the layout")  # the judge's, never the learner's
    return tensors


def _tensor(ints):
    return torch.tensor(ints, dtype=torch.int64)


def _shape(value, name):
    return [_int(n, f"{name}[{i}]") for i, n in enumerate(_sequence(value, name, limit=MAX_AXES, shape=True))]


def _sequence(value, name, length=None, limit=None, shape=False, what=""):
    """The items of a tuple or list, read with the built-in types' own methods."""
    kind = type(value)
    if issubclass(kind, tuple):
        items = [tuple.__getitem__(value, i) for i in range(min(tuple.__len__(value), (limit or length) + 1))]
    elif issubclass(kind, list):
        items = [list.__getitem__(value, i) for i in range(min(list.__len__(value), (limit or length) + 1))]
    else:
        raise Unreadable(f"{name} is {_a(value)}, not a tuple{' of ints' if shape else ''} {what}. "
                         f"{_hint(value, shape)}".replace("  ", " ").replace(" .", "."))
    if length is not None and len(items) != length:
        count = f"more than {length}" if len(items) > length else str(len(items))
        raise Unreadable(f"{name} has {count} item(s); it must have exactly {length}: {what}.")
    if limit is not None and len(items) > limit:
        raise Unreadable(f"{name} has more than {limit} items: far more than any answer here needs.")
    return items


def _int(value, name):
    kind = type(value)
    if kind is bool:
        raise Unreadable(f"{name} is a bool ({value}), not an int.")
    if issubclass(kind, int) or kind in NUMPY_INTS:
        # int's own value, whatever a subclass says; numpy's exact types are read by numpy's own C code
        number = int.__int__(value) if issubclass(kind, int) else int.__int__(operator.index(value))
        if not -LARGEST < number < LARGEST:
            raise Unreadable(f"{name} is an int with {number.bit_length()} bits: far too large for a size.")
        return number
    if issubclass(kind, float):
        shown = float.__repr__(value)
        raise Unreadable(f"{name} is a float ({shown}), not an int. Sizes are whole numbers: divide with // "
                         f"(floor division), not /.")
    raise Unreadable(f"{name} is {_a(value)}, not an int. {_hint(value, False)}")


def _type_name(kind):
    """(module, name) of a type, read with type's own descriptors: a metaclass's properties never run."""
    module = type.__dict__["__module__"].__get__(kind)  # a class body may set it to anything:
    return (module if type(module) is str else ""), type.__dict__["__name__"].__get__(kind)[:60]  # not isinstance


def _a(value):
    """"a tuple", "a numpy.int64", ...: what the value is, for a message."""
    if value is None:
        return "None"
    module, name = _type_name(type(value))
    if module and module not in ("builtins", "__main__") and not module.startswith("_"):
        name = f"{module.split('.')[0]}.{name}"
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


ITERATORS = ("generator", "map", "filter", "zip", "range", "dict_keys", "dict_values", "set", "frozenset")


def _hint(value, shape):
    kind = type(value)
    if issubclass(kind, torch.Tensor):
        return "These answers are plain Python: return ints and tuples of ints, no tensor."
    if shape and issubclass(kind, int) and kind is not bool:
        return "A shape is a tuple even with one axis: (n,), not n."
    if _type_name(kind) in (("builtins", name) for name in ITERATORS):
        return "Wrap it in tuple(...)."
    return "Return Python ints, and tuples (or lists) of them."
