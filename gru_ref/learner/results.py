"""What a learner's function gave on each case, as it crosses from the learner's side to the judge.

The learner's side (gru_ref.learner.sandbox, in the child or the grading sandbox) `encode`s its records into
two plain things: a tensor file (gru_ref.learner.tensorfile) with every output and gradient, and a list of
short descriptions (status, error text, returned types). The judge `decode`s them strictly: every
field is checked for type and size, and tensors are taken only from the tensor file. A description
can only explain or fail a case; values and gradients pass only on tensors that match the truth.
"""
import re

from gru_ref.learner import tensorfile

MAX_ELEMENTS = 4_000_000  # per check: far above any honest answer's outputs and gradients
TEXT_LIMITS = {"error": 6000, "grad_error": 6000, "text": 500, "exception": 100, "returned_type": 100,
               "malformed": 1000}
TENSOR_NAME = re.compile(r"(\d+)\.(out|grad)\.(\d+)")


class BadResults(ValueError):
    """What came back is not results of the expected form."""


def encode(records):
    """Records of sandbox._run_case (tensors inside) -> (tensor file bytes, descriptions)."""
    tensors, descriptions = {}, []
    for i, record in enumerate(records):
        description = {k: v for k, v in record.items() if k not in ("outputs", "grads")}
        for j, tensor in enumerate(record.get("outputs", ())):
            tensors[f"{i}.out.{j}"] = tensor
        if "grads" in record:
            description["grads_present"] = [g is not None for g in record["grads"]]
            for k, grad in enumerate(record["grads"]):
                if grad is not None:
                    tensors[f"{i}.grad.{k}"] = grad
        descriptions.append(description)
    return tensorfile.dumps(tensors), descriptions


def decode(data, descriptions, case_count):
    """The records back, each field checked; raises BadResults on anything out of form."""
    if not isinstance(descriptions, list) or len(descriptions) > case_count:
        raise BadResults("the list of cases is malformed")
    try:
        tensors = tensorfile.loads(data, MAX_ELEMENTS)
    except tensorfile.BadTensorFile as exc:
        raise BadResults(f"the tensor file is malformed ({exc})") from None
    records = [_clean(d) for d in descriptions]
    outputs = [{} for _ in records]
    grads = [{} for _ in records]
    for name, tensor in tensors.items():
        match = TENSOR_NAME.fullmatch(name)
        if not match or int(match[1]) >= len(records):
            raise BadResults(f"unexpected tensor {name!r}")
        (outputs if match[2] == "out" else grads)[int(match[1])][int(match[3])] = tensor
    for record, outs, gs in zip(records, outputs, grads):
        if sorted(outs) != list(range(len(outs))):
            raise BadResults("outputs are not numbered in order")
        if outs:
            record["outputs"] = [outs[j] for j in range(len(outs))]
        if "grads_present" in record:
            present = record.pop("grads_present")
            if sorted(gs) != [k for k, p in enumerate(present) if p]:
                raise BadResults("gradients do not match their description")
            record["grads"] = [gs.get(k) for k in range(len(present))]
        elif gs:
            raise BadResults("gradients without a description")
    return records


def _clean(description):
    """A description with every field of the expected type and size, or BadResults."""
    if not isinstance(description, dict):
        raise BadResults("a case's description is not an object")
    record = {}
    status = description.get("status")
    if status not in ("ok", "error"):
        raise BadResults("a case has no status")
    record["status"] = status
    for key, limit in TEXT_LIMITS.items():
        if key in description:
            record[key] = _text(description[key], limit)
    record["builtin_ops"] = [_text(op, 200) for op in _list(description.get("builtin_ops", []), 50)]
    if "torch_ops" in description:  # the shapes assignment: torch operators its arithmetic ran
        record["torch_ops"] = [_text(op, 200) for op in _list(description["torch_ops"], 50)]
    for key in ("forward_ad_ops", "complex_dtypes"):  # autodiff by another door, seen by a by-hand check
        if key in description:
            record[key] = [_text(item, 100) for item in _list(description[key], 10)]
    if "returned" in description:
        record["returned"] = [_returned(item) for item in _list(description["returned"], 16)]
    for key in ("autograd_used", "record_stopped"):
        if key in description:
            record[key] = description[key] is True
    for key, kind, limit in (("mutated", int, 64), ("requires_grad", bool, 16), ("grads_present", bool, 64)):
        if key in description:
            values = _list(description[key], limit)
            if not all(type(v) is kind for v in values):
                raise BadResults(f"{key} is malformed")
            record[key] = values
    return record


def _returned(item):
    """(kind, shape, dtype, device) of one returned value."""
    if not (isinstance(item, (list, tuple)) and len(item) == 4):
        raise BadResults("a returned value's description is malformed")
    kind, shape, dtype, device = item
    if shape is not None:
        shape = tuple(_list(shape, 8))
        if not all(type(n) is int and n >= 0 for n in shape):
            raise BadResults("a returned shape is malformed")
    return (_text(kind, 100), shape, None if dtype is None else _text(dtype, 40),
            None if device is None else _text(device, 40))


def _text(value, limit):
    if not isinstance(value, str):
        raise BadResults("a text field is not text")
    return value[:limit]


def _list(value, limit):
    if not isinstance(value, (list, tuple)) or len(value) > limit:
        raise BadResults("a list field is malformed")
    return list(value)
