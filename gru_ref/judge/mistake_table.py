"""The learners' edition's diagnosis: the known mistakes' outputs on a few fixed cases per task.

The code that computes a mistake of `gru_cell`, `my_gru`, `gru_cell_grad`, `my_rnn`, `my_gru_layers`
or the shapes functions is a whole answer (gru_ref.reference), so the learners' wheel ships without
it. When the wheel is built (book/_ext/learner_edition.py runs `python -m gru_ref.judge.mistake_table
TENSOR_FILE JSON_FILE`), each such task's `diagnosis_cases` get fixed inputs (float64, a fixed seed)
and every mistake's outputs on them where they differ from the truth, written beside this module: a
tensor file for the recurrent tasks (gru_ref.learner.tensorfile: no pickle), JSON for the shapes
tasks' ints. There the judge hands the learner's function these cases too, before its own (they earn
nothing), and when a value check fails, names the first mistake whose stored outputs the learner's
match on every diagnosis case where it shows (shapes: part by part, as the grader does).
"""
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from gru_ref.judge import cases
from gru_ref.judge.mistakes import computed_here
from gru_ref.learner import tensorfile

FILE = Path(__file__).with_name("mistake_table.st")
SHAPES_FILE = Path(__file__).with_name("shape_mistake_table.json")  # the shapes assignment's: ints, as JSON
SEED = 15
MAX_ELEMENTS = 1_000_000  # the table is about 10,000 numbers
LOOSE = (1e-7, 1e-9)  # float64 on both sides: the grader's own tolerance for naming a mistake


@dataclass
class Table:
    """One task's diagnosis: its cases, their inputs, and each mistake's outputs on each (None where the
    mistake cannot run on that case)."""
    cases: tuple
    inputs: list  # per case: {argument name: tensor}
    outputs: dict  # mistake name -> per case: tuple of tensors, or None

    def match(self, task, records):
        """The first of task.mistakes the learner's records on the diagnosis cases match, or None."""
        for mistake in task.mistakes:
            stored = self.outputs.get(mistake.name)
            if stored is None:
                continue
            compared = [_same(record, want) for record, want in zip(records, stored) if want is not None]
            if compared and all(compared):
                return mistake
        return None


def _same(record, want):
    outputs = record.get("outputs") if isinstance(record, dict) and record.get("status") == "ok" else None
    if not outputs or len(outputs) != len(want):
        return False
    return all(got.shape == w.shape and got.dtype == w.dtype and torch.allclose(got, w, *LOOSE)
               for got, w in zip(outputs, want))


@dataclass(frozen=True)
class Named:
    """A shapes mistake as its table knows it: what the verdict's stable name is read from."""
    name: str
    lesson: str


@dataclass
class ShapesTable:
    """One shapes task's diagnosis: its configurations and, per mistake, its name, its lesson and the
    parts of its answer on each configuration that differ from the module's (JSON values)."""
    cases: tuple
    inputs: list  # no tensor goes in: one empty dict per case
    mistakes: list  # [{"name", "lesson", "answers": [{part: value}, per case]}]

    def lessons(self, task, part, records):
        """The lessons of the mistakes whose `part` the learner's answers match wherever that part of
        the mistake is wrong (on at least one diagnosis case)."""
        from gru_ref.assignments.shapes import diagnose
        answers = [diagnose.decode(task, r) if isinstance(r, dict) and r.get("status") == "ok" else None
                   for r in records]
        found = []
        for mistake in self.mistakes:
            shown = [(i, a[part]) for i, a in enumerate(mistake["answers"]) if part in a]
            if shown and all(i < len(answers) and answers[i] is not None and _plain(answers[i][part]) == want
                             for i, want in shown):
                found.append(mistake["lesson"])
        return found


def _plain(value):
    """An answer's part as JSON gives it back: tuples become lists."""
    return json.loads(json.dumps(value))


def diagnosed_tasks():
    """The recurrent tasks whose mistakes the table holds as tensors."""
    from gru_ref import assignments
    return [task for task in assignments.TASKS.values() if getattr(task, "mistakes_in_reference", False)
            and getattr(task, "answer_kind", None) != "ints"]


def shape_tasks():
    from gru_ref import assignments
    return [task for task in assignments.TASKS.values() if getattr(task, "answer_kind", None) == "ints"]


def build_shapes():
    """{task: [{"name", "lesson", "answers"}]}: each shapes mistake's wrong parts on the diagnosis cases."""
    from gru_ref.reference.shapes_mistakes import SHAPE_MISTAKES
    table = {}
    for task in shape_tasks():
        truths = [{k: _plain(v) for k, v in task.expected(case).items()} for case in task.diagnosis_cases]
        table[task.name] = []
        for mistake in (m for m in SHAPE_MISTAKES if m.task == task.name):
            answers = []
            for case, truth in zip(task.diagnosis_cases, truths):
                try:
                    wrong = dict(zip(task.output_names, _plain(mistake.answer(*case.args))))
                except (ArithmeticError, ValueError):
                    wrong = {}
                answers.append({part: value for part, value in wrong.items() if value != truth[part]})
            table[task.name].append({"name": mistake.name, "lesson": mistake.lesson, "answers": answers})
    return table


def build():
    """{name: tensor} of every diagnosed task's cases and mistakes (needs gru_ref.reference)."""
    if not computed_here():
        raise RuntimeError("building the table needs the instructors' gru_ref.reference.mistakes")
    tensors = {}
    for task in diagnosed_tasks():
        generator = torch.Generator().manual_seed(SEED)
        for i, case in enumerate(task.diagnosis_cases):
            inputs = cases.make_inputs(task, case, generator)
            for k, name in enumerate(task.arg_names_for(case)):
                tensors[f"{task.name}.{i}.in.{k}"] = inputs[name]
            truth = task.expected(case, inputs)
            for mistake in task.mistakes:
                try:
                    outputs = task.run_mistake(mistake, inputs, case)
                except (ValueError, RuntimeError):  # a mistake that cannot run on this case's shapes
                    continue
                if all(torch.allclose(o, t, *LOOSE) for o, t in zip(outputs, truth)):
                    continue  # it does not show here: a right output must not match it
                for j, output in enumerate(outputs):
                    tensors[f"{task.name}.{i}.{mistake.name}.{j}"] = output.detach().contiguous()
    return tensors


_LOADED = {}


def load(task, path=FILE, shapes_path=SHAPES_FILE):
    """The task's Table, or None where there is no table (a checkout with gru_ref.reference has none)."""
    if getattr(task, "answer_kind", None) == "ints":
        return _load_shapes(task, shapes_path)
    if path not in _LOADED:
        try:
            _LOADED[path] = tensorfile.loads(Path(path).read_bytes(), MAX_ELEMENTS)
        except OSError:
            _LOADED[path] = None
    tensors = _LOADED[path]
    if tensors is None or f"{task.name}.0.in.0" not in tensors:
        return None
    inputs, outputs = [], {m.name: [None] * len(task.diagnosis_cases) for m in task.mistakes}
    for i, case in enumerate(task.diagnosis_cases):
        names = task.arg_names_for(case)
        inputs.append({name: tensors[f"{task.name}.{i}.in.{k}"] for k, name in enumerate(names)})
        for mistake in task.mistakes:
            first = f"{task.name}.{i}.{mistake.name}.0"
            if first in tensors:
                outputs[mistake.name][i] = tuple(tensors[f"{task.name}.{i}.{mistake.name}.{j}"]
                                                 for j in range(len(task.output_names)))
    return Table(tuple(task.diagnosis_cases), inputs,
                 {name: per_case for name, per_case in outputs.items() if any(o is not None for o in per_case)})


def _load_shapes(task, path):
    if path not in _LOADED:
        try:
            _LOADED[path] = json.loads(Path(path).read_text())
        except OSError:
            _LOADED[path] = None
    if not _LOADED[path] or task.name not in _LOADED[path]:
        return None
    return ShapesTable(tuple(task.diagnosis_cases), [{} for _ in task.diagnosis_cases], _LOADED[path][task.name])


if __name__ == "__main__":  # python -m gru_ref.judge.mistake_table TENSOR_FILE JSON_FILE
    Path(sys.argv[1]).write_bytes(tensorfile.dumps(build()))
    Path(sys.argv[2]).write_text(json.dumps(build_shapes(), separators=(",", ":")))
