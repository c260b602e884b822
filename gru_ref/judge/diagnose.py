"""Diagnostics that teach: name the most likely mistake and where it shows. Trusted (judge side)."""
import torch

from gru_ref.judge import cases

DEVICE_HINT = ("Create every new tensor on the inputs' device and dtype: input.new_zeros(...), "
               "torch.zeros_like(...), or torch.zeros(..., device=input.device, dtype=input.dtype). "
               "(The grader also runs your function on the 'meta' device, and on CUDA where there is one.)")

ERROR_HINTS = (
    (("cannot be called on meta tensors", "meta device type tensor to numpy"),
     "The grader runs your function on the 'meta' device, where tensors have shapes, dtype and device but no "
     "values (the contract test does it too), and something in it read a value: an input check such as "
     "`if not torch.isfinite(x).all()`, an .item() or .numpy(), or an `if` on a tensor. Leave such "
     "checks out of the function, or skip them there: `if x.device.type != \"meta\": ...`."),
    (("shapes cannot be multiplied", "size mismatch", "must match the size", "dimension specified as"),
     "A tensor operation got shapes that do not fit. Check the layout: {layout}"),
    (("meta", "same device", "Expected all tensors to be on"), DEVICE_HINT),
    (("NotImplementedError",), "The function still raises NotImplementedError: replace that line with "
                               "your implementation."),
    (("in-place operation", "inplace operation"),
     "Do not modify the arguments in place: build new tensors instead."),
    (("numpy",), "Stay in torch: NumPy cannot follow the inputs to other devices or keep gradients."),
    (("SystemExit",), "Your code called exit() or sys.exit(): return the result instead."),
    (("EOFError",), "The function asked for input(); it must work without a keyboard."),
    (("File too large",), "It printed far too much (the grader keeps 64 MB of prints): remove the "
                          "prints from the loop."),
    (("MemoryError", "can't allocate memory", "not enough memory"),
     "It ran out of memory (the grader allows 4 GB more than the inputs need). A layer on these small "
     "cases needs a few kilobytes: look for a list or tensor that grows without end."),
)


def explain_error(task, result):
    text = f"{result.get('exception', '')} {result.get('text', '')}"
    for needles, hint in getattr(task, "error_hints", ()) + ERROR_HINTS:  # the task's own first
        if any(n in text for n in needles):
            return hint.replace("{layout}", task.layout_hint)
    return f"Fix the error above, then run the test again. Remember {task.name} returns {task.returns}."


def first_contract_problem(task, case, result):
    """The return contract: the right container, plain tensors, shapes, dtype and device."""
    returned = result["returned"]
    want = task.output_shapes(case)
    if len(task.output_names) > 1:
        kind, name, names = result.get("returned_type"), task.name, ", ".join(task.output_names)
        # A list unpacks as a tuple does (`output, h = my_gru(...)`): accepted, as the notebooks say.
        if kind not in ("tuple", "list"):
            return (f"{name} returned a {kind}, but it must return a tuple of {len(want)} tensors: "
                    f"`return {names}`.")
        if len(returned) != len(want):
            return (f"{name} returned a {kind} of {len(returned)} item(s); return exactly "
                    f"{len(want)}: ({names}).")
    for name, (kind, shape, dtype, device), expected_shape in zip(want, returned, want.values()):
        if kind == "Parameter":
            return f"{name} is an nn.Parameter; return the plain tensor your computation produced."
        if kind != "Tensor":
            return (f"{name} is a {kind}, not a torch.Tensor. Keep the whole computation in torch "
                    f"(torch.stack turns a list of (B, H) tensors into one tensor).")
        if tuple(shape) != tuple(expected_shape):
            return _shape_problem(task, case, name, tuple(shape), tuple(expected_shape))
        if dtype != case.dtype and dtype not in getattr(task, "dtypes_accepted", ()):
            return (f"{name} has dtype {dtype}, but the inputs are {case.dtype}. Keep the input's dtype: "
                    f"do not call .float()/.double(), and give new tensors dtype=input.dtype.")
        if device != case.device:
            return f"{name} is on the device '{device}', but the inputs are on '{case.device}'. {DEVICE_HINT}"
    return None


def _shape_problem(task, case, name, got, want):
    letters = task.letters(case)[name]
    message = f"{name} has shape {got}; it must be {letters} = {want}."
    if name == "output" and got == (case.T, case.B, case.H):
        message += (" It looks time-major (T, B, H): this exercise is batch-first, so stack the "
                    "per-step states along dim=1.")
    elif got == (1,) + want:
        message += (f" nn.{task.module_name}'s h_n has an extra num_layers dimension in front; here "
                    f"return the state itself, without it.")
    elif task.blocks == 3 and len(want) == 2 and got == (case.B, 3 * case.H):
        message += " That is 3H wide: split the gate blocks with .chunk(3, dim=-1) before combining."
    elif hasattr(task, "shape_hint"):
        message += task.shape_hint(case, got)
    return message


def explain_values(task, case, inputs, actual, expected, found=None, named=None):
    """None when every output matches; otherwise where it first diverges and the likely mistake
    (`found`, a dict, gets "where": the first diverging tensor, for the class report). named: in the
    learners' edition, a function that returns the mistake its table finds (or None); elsewhere each
    mistake is run for real on this case."""
    rtol, atol = cases.tolerances(case)
    names = list(task.output_shapes(case))
    bad = [n for n, a, e in zip(names, actual, expected) if not _close(a, e, rtol, atol)]
    if not bad:
        return None
    where = _where(task, case, names, bad, actual, expected, rtol, atol)
    if found is not None:
        found["where"] = where
    lines = [f"{task.name} does not match {task.truth} (random weights, non-zero biases and "
             f"initial state). {where}"]
    lines.append(_likely_mistake(task, case, inputs, actual, expected, bad, named))
    return "\n".join(lines)


def _close(actual, expected, rtol, atol):
    return torch.allclose(actual.double(), expected.double(), rtol=rtol, atol=atol)


def _where(task, case, names, bad, actual, expected, rtol, atol):
    name = bad[0]
    a, e = actual[names.index(name)].double(), expected[names.index(name)].double()
    error = (a - e).abs()
    largest = f"largest error {error.max().item():.2e} (allowed: rtol={rtol:g}, atol={atol:g})"
    if hasattr(task, "where"):  # a task with outputs of its own kind (gru_bptt's six gradients)
        return task.where(case, names, bad, actual, expected, rtol, atol, largest)
    wrong = ~torch.isclose(a, e, rtol=rtol, atol=atol)
    if name == "output":
        time = task.time_dim(case)  # output is (B, T, width) or (T, B, width)
        t = int(wrong.any(dim=1 - time).any(dim=-1).nonzero()[0])
        at = f"output[:, {t}]" if time == 1 else f"output[{t}]"
        return f"First difference: {at} (time step {t}){_which_half(case, wrong)}, {largest}."
    if name == "h_n":  # (num_layers * D, B, H): say which layer and direction
        k = int(wrong.flatten(1).any(dim=1).nonzero()[0])
        D = 2 if case.bidirectional else 1
        direction = ("forward", "reverse")[k % D] if D == 2 else "the only direction"
        return (f"{'output matches, but ' if len(bad) == 1 else ''}h_n differs first at "
                f"h_n[{k}] (layer {k // D}, {direction}): {largest}.")
    if len(names) == 2 and name == names[1]:
        return f"{names[0]} matches, but {name} does not: {largest}."
    return f"{name} differs: {largest}."


def _which_half(case, wrong):
    """For two directions: which half of the output's last axis differs (forward [:H], reverse [H:])."""
    if not case.bidirectional:
        return ""
    forward, reverse = bool(wrong[..., :case.H].any()), bool(wrong[..., case.H:].any())
    return {(True, False): ", forward half only", (False, True): ", reverse half only"}.get((forward, reverse), "")


def _likely_mistake(task, case, inputs, actual, expected, bad, named=None):
    mistake = named() if named else _matching_mistake(task, case, inputs, actual)
    if mistake is not None:
        return f"Most likely mistake: {mistake.lesson}"
    if case.dtype == "float64" and all(_close(a, e, 1e-5, 1e-6) for a, e in zip(actual, expected)):
        return ("The result agrees only to float32 precision: somewhere the computation drops to "
                "float32 (a .float(), or a new tensor made without dtype=input.dtype).")
    if bad == ["h_final"]:
        return "h_final must be the state after the last time step, which equals output[:, -1]."
    if bad == ["h_n"]:
        return ("h_n holds each layer's and direction's final state, in rows layer * num_directions + "
                "direction: the forward direction's state after x_{T-1}, the reverse one's after x_0.")
    return f"It matches none of the common mistakes the grader knows. {task.equations_hint}"


def _matching_mistake(task, case, inputs, actual):
    """The first of the task's mistakes, run for real on this case, that the learner's outputs match."""
    as64 = {k: v.double() for k, v in inputs.items()}
    loose = (1e-7, 1e-9) if case.dtype == "float64" else (1e-4, 1e-4)
    for mistake in task.mistakes:
        try:
            variant = task.run_mistake(mistake, as64, case)
        except Exception:
            continue
        if all(_close(a, v, *loose) for a, v in zip(actual, variant)):
            return mistake
    return None
