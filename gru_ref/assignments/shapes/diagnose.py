"""Trusted (judge side): rule on one case of the shapes assignment, with messages that name the wrong
axis, parameter or term.

What came back is int64 tensors in the layout of gru_ref.learner.shape_answers, checked here again before a
number is read; a description from the learner's side (an exception, a malformed answer, the torch
operators it ran) can only fail the case. The truth is the module itself (gru_ref.assignments.shapes.tasks). Where
the grader's gru_ref.reference.shapes_mistakes is installed, a wrong part of the answer is also matched against
the mistakes teachers see every term, to name the term that went wrong; in the learners' edition, against
those mistakes' answers on the fixed diagnosis configurations (gru_ref.judge.mistake_table).
"""
import torch

from gru_ref.judge.diagnose import explain_error
from gru_ref.learner.shape_answers import MAX_AXES, MAX_SHAPES

try:  # the instructors' and the grader's copy; the learners' checker ships without it
    from gru_ref.reference.shapes_mistakes import SHAPE_MISTAKES
except ImportError:
    SHAPE_MISTAKES = ()

SHOWN_NAMES = 8  # parameter names listed in a message


def rule_case(task, case, result, named=None):
    """None if the answer is right (its form only, for a contract case), else what is wrong. named: in
    the learners' edition, part -> the lessons of the mistakes its table finds for that part; elsewhere
    each mistake is computed on this configuration."""
    if result.get("record_stopped"):  # gru_ref.learner.sandbox: its record of torch operators was stopped
        return (f"{task.name} stopped the grader's record of the torch operators it runs. That earns no "
                f"credit: leave the profiler alone, and predict the shapes with arithmetic on Python ints.")
    ops = sorted(set(result.get("torch_ops", [])) | set(result.get("builtin_ops", [])))
    if ops:
        return (f"{task.name} ran torch operators ({_few(ops, 4)}): it made a tensor or built {task.module_words} "
                f"to read the answer off. That earns no credit: these functions predict the shapes with "
                f"arithmetic on Python ints (the rules of chapters 2 to 4), without torch.")
    if result.get("status") == "error":
        return f"{task.name} raised an exception.\n\n{result['error']}\n\n" + explain_error(task, result)
    if "malformed" in result:
        return f"{task.name} must return {task.returns}, but {result['malformed']}"
    answer = decode(task, result)
    if answer is None:
        return (f"what came back from {task.name} is not in the form its return value was read into. "
                f"Return {task.returns} of Python ints, and run the test cell again.")
    if not case.values:  # the contract: the answer's form, read above; its numbers are for the values
        return None
    expected = task.expected(case)
    return _layout(task, case, answer, expected, named) or _values(task, case, answer, expected, named)


def passed(task, cases):
    if not any(case.values for case in cases):
        return (f"{task.name} returns {task.returns} in the expected form (each shape a tuple of ints, "
                f"num_params an int) on {len(cases)} configuration(s).")
    return (f"{task.name} matches {task.truth}: output shape, parameter shapes and parameter count on "
            f"{len(cases)} configuration(s), most of them drawn at random.")


def decode(task, result):
    """{output name: value} from the tensors that came back, or None if they are not exactly the
    layout's: int64 on the CPU, 1-D for shapes (0-D for the count), sizes within bounds."""
    outputs = result.get("outputs") or []
    wanted = sum(2 if kind == "shapes" else 1 for kind in task.kinds)
    described = result.get("returned") or []
    if len(outputs) != wanted or len(described) != wanted:
        return None
    for tensor, (kind, shape, dtype, device) in zip(outputs, described):
        if (tensor.dtype != torch.int64 or tensor.device.type != "cpu" or tuple(tensor.shape) != shape
                or dtype != "int64" or tensor.dim() > 1):
            return None
    answer, tensors = {}, iter(outputs)
    for name, kind in zip(task.output_names, task.kinds):
        if kind == "count":
            count = next(tensors)
            if count.dim() != 0:
                return None
            answer[name] = int(count)
            continue
        if kind == "shape":
            shape = next(tensors)
            if shape.dim() != 1 or shape.numel() > MAX_AXES:
                return None
            answer[name] = tuple(shape.tolist())
            continue
        axes, sizes = next(tensors), next(tensors)
        if (axes.dim() != 1 or sizes.dim() != 1 or axes.numel() > MAX_SHAPES or bool((axes < 0).any())
                or bool((axes > MAX_AXES).any()) or int(axes.sum()) != sizes.numel()):
            return None
        ends = torch.cumsum(axes, 0).tolist()
        flat = sizes.tolist()
        answer[name] = [tuple(flat[end - n:end]) for n, end in zip(axes.tolist(), ends)]
    return answer


def _layout(task, case, answer, expected, named=None):
    """As many axes as the module's outputs, one shape per parameter, each with as many axes as that
    parameter: the first thing to get right, and the clearest message when it is wrong."""
    module = task.module_of(case)
    for name, kind in zip(task.output_names, task.kinds):
        if kind != "shape" or len(answer[name]) == len(expected[name]):
            continue
        letters = ", ".join(letter for letter, _ in task.axes(case, name))
        return (f"{name} has {_n(len(answer[name]), 'axis', 'axes')}, {answer[name]}; {module}'s has "
                f"{len(expected[name])}: "
                f"({letters}).{_lesson(task, case, answer, name, named)}")
    got, want = answer["weight_shapes"], expected["weight_shapes"]
    names = task.parameter_names(case)
    if len(got) != len(want):
        return (f"weight_shapes has {_n(len(got), 'entry', 'entries')}; {module}'s parameters() gives {len(want)}: "
                f"{_few(names, SHOWN_NAMES)}, in that order.{_lesson(task, case, answer, 'weight_shapes', named)}")
    for i, (shape, right, name) in enumerate(zip(got, want, names)):
        if len(shape) != len(right):
            return (f"weight_shapes[{i}] is {shape}, with {_n(len(shape), 'axis', 'axes')}; {module}'s parameter "
                    f"{i} has {len(right)}: it is {task.parameter_hint(case, name)}"
                    f"{_lesson(task, case, answer, 'weight_shapes', named)}")
    return None


def _values(task, case, answer, expected, named=None):
    module = task.module_of(case)
    for name, kind in zip(task.output_names, task.kinds):
        if kind != "shape" or answer[name] == expected[name]:
            continue
        axis = next(i for i, (a, b) in enumerate(zip(answer[name], expected[name])) if a != b)
        letter, meaning = task.axes(case, name)[axis]
        return (f"{name} is {answer[name]}; {module} gives {expected[name]}. The first wrong axis is "
                f"{name}[{axis}], {letter} ({meaning}): you gave {answer[name][axis]}, {module} gives "
                f"{expected[name][axis]}. {task.axis_hint(case, name, axis)}{_lesson(task, case, answer, name, named)}")
    got, want = answer["weight_shapes"], expected["weight_shapes"]
    if got != want:
        i = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
        name = task.parameter_names(case)[i]
        return (f"weight_shapes[{i}] is {got[i]}; {module}'s parameter {i} is {want[i]}: it is "
                f"{task.parameter_hint(case, name)}{_lesson(task, case, answer, 'weight_shapes', named)}")
    if answer["num_params"] != expected["num_params"]:
        return (f"num_params is {answer['num_params']}; {module} has {expected['num_params']} parameters, the "
                f"sum over its parameters of each one's size: the product of its shape, for each shape in "
                f"weight_shapes (which you have right).{_lesson(task, case, answer, 'num_params', named)}")
    return None


def _lesson(task, case, answer, part, named=None):
    """"Most likely mistake: ..." when a known mistake gives the learner's `part`, else "". Where two
    mistakes give the same numbers on this configuration (padding on one side and the missing + 1,
    with padding=1), both are named."""
    index, lessons = task.output_names.index(part), named(part) if named else []
    for mistake in () if named else SHAPE_MISTAKES:
        if mistake.task != task.name:
            continue
        try:
            wrong = mistake.answer(*case.args)
        except (ArithmeticError, ValueError):
            continue
        if _same(wrong[index], answer[part]):
            lessons.append(mistake.lesson)
    if not lessons:
        return ""
    return f"\nMost likely mistake: {lessons[0]}" + "".join(f"\nOr: {lesson}" for lesson in lessons[1:2])


def _same(a, b):
    if isinstance(a, list):
        return [tuple(s) for s in a] == [tuple(s) for s in b]
    return (tuple(a) == tuple(b)) if isinstance(a, tuple) else a == b


def _n(count, one, many):
    return f"{count} {one if count == 1 else many}"


def _few(names, limit):
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")

