"""Trusted: read a submitted notebook into what the box runs and what the judge checks.

The learner's code cells (every code cell but the test cells) run in the box, in order. A test cell
is never run: it is read. Each `check_*(function, "part", ...)` call in it becomes a check that the
judge draws cases for, and that the box runs at that point of the notebook, as Jupyter would have.
"""
import ast
from dataclasses import dataclass, field

from gru_ref.learner import registry as assignments

CHECKS = {check: task for check, (task, _, _) in assignments.CHECKS.items()}  # check function -> task
DEFAULT_PARTS = assignments.DEFAULT_PARTS


class PlanError(ValueError):
    """The instructor's notebook has a test cell this grader cannot run (a message for the instructor)."""


@dataclass
class Check:
    task: str
    function: str
    parts: tuple
    hidden: bool = False  # between nbgrader's hidden-test markers: cases of the learner's own


@dataclass
class TestCell:
    cell_index: int  # in the notebook
    grade_id: str
    checks: list
    before_cell: int  # how many learner code cells run before it


@dataclass
class Plan:
    code_cells: list = field(default_factory=list)  # (cell index in the notebook, source)
    tests: list = field(default_factory=list)


def is_test_cell(cell):
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and meta.get("grade") and not meta.get("solution")


def plan_notebook(nb):
    plan = Plan()
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if is_test_cell(cell):
            grade_id = cell.metadata["nbgrader"].get("grade_id", f"cell {index}")
            plan.tests.append(TestCell(index, grade_id, read_checks(cell.source, grade_id),
                                       len(plan.code_cells)))
        else:
            plan.code_cells.append((index, cell.source))
    return plan


def read_checks(source, grade_id):
    """The check calls of a test cell, in order. Anything else in it is refused: the grader would
    have to run it, and a test cell's code must never share a process with the learner's."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise PlanError(f"test cell {grade_id!r} is not valid Python ({exc})") from None
    checks, hidden_lines = [], _hidden_lines(source)
    for statement in tree.body:
        value = getattr(statement, "value", None)
        if isinstance(statement, ast.Expr) and isinstance(value, ast.Constant) and isinstance(value.value, str):
            continue  # the docstring
        call = value if isinstance(statement, ast.Expr) else None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in CHECKS
                and len(call.args) >= 1 and isinstance(call.args[0], ast.Name) and not call.keywords
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args[1:])):
            raise PlanError(
                f"test cell {grade_id!r}, line {statement.lineno}: only a docstring and calls like "
                f"check_my_gru(my_gru, \"values\") may stand in a test cell graded in the sandbox "
                f"({', '.join(sorted(CHECKS))}). Move other code into a check in gru_ref.")
        parts = tuple(a.value for a in call.args[1:]) or DEFAULT_PARTS
        checks.append(Check(CHECKS[call.func.id], call.args[0].id, parts, statement.lineno in hidden_lines))
    return checks


def _hidden_lines(source):
    """The line numbers between nbgrader's BEGIN and END HIDDEN TESTS markers (nbgrader restores them
    with the test cell's source before grading)."""
    hidden, inside = set(), False
    for number, line in enumerate(source.splitlines(), 1):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif inside:
            hidden.add(number)
    return hidden
