"""Trusted: a submission's test cells are the assignment's, wherever the learner left them.

A learner can delete a test cell, empty or edit it, change its metadata so that it is no test,
duplicate it or move it (above the answer it checks, say). nbgrader alone would then give the test
0 with no word, or run the learner's version. Here, before nbgrader's own sanitising steps, every
cell that carries a test's grade_id is taken out and the released test cell is put back: where the
learner's copy stood if that is in the released order, else just before the next cell of the
released notebook that the learner kept (after the learner's own cells that follow the answer). nbgrader's OverwriteCells then writes the source notebook's text (hidden
tests included) into it, as for any locked cell. What was restored, and why, is kept in the
notebook's metadata (RESTORED); the class report lists it, and each restored test cell's output
says so (SandboxedExecute), in the feedback and in the formgrader.
"""
import copy
import os
import re

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

RESTORED = "gru_ref_restored_tests"  # notebook metadata: {grade_id: [what had happened to it]}
KINDS = ("deleted", "emptied", "edited", "duplicated", "moved")


def is_test(cell):
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def grade_id(cell):
    meta = cell.get("metadata", {}).get("nbgrader", {})
    value = meta.get("grade_id") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def restore(nb, released):
    """The submitted notebook nb with the released notebook's test cells, in the released order.
    Returns {grade_id: [kinds]} of the tests that were not found as released (see KINDS)."""
    order = [grade_id(cell) for cell in released.cells]
    tests = {grade_id(cell): cell for cell in released.cells if is_test(cell) and grade_id(cell)}
    anchors = [gid for gid in order if gid and gid not in tests]  # answers and instructions
    where = {}  # the learner's cells that carry a test's grade_id, by grade_id
    for index, cell in enumerate(nb.cells):
        if grade_id(cell) in tests:
            where.setdefault(grade_id(cell), []).append(index)
    position = {}
    for index, cell in enumerate(nb.cells):
        if grade_id(cell) in anchors and grade_id(cell) not in tests:
            position.setdefault(grade_id(cell), index)
    restored, kept = {}, {}
    last_kept = -1  # where the last test kept in place stands: the tests kept keep the released order
    for gid in (g for g in order if g in tests):
        found = where.get(gid, [])
        kinds = []
        if not found:
            kinds.append("deleted")
        else:
            if len(found) > 1:
                kinds.append("duplicated")
            cell = nb.cells[found[0]]
            if not str(cell.get("source", "")).strip():
                kinds.append("emptied")
            elif not _same(cell, tests[gid]):
                kinds.append("edited")
            if _in_order(found[0], gid, order, position) and found[0] > last_kept:
                kept[found[0]] = gid
                last_kept = found[0]
            else:
                kinds.append("moved")
        if kinds:
            restored[gid] = kinds
    placed = set(kept.values())
    ahead_of = {}  # each test not kept in place goes just before the next released cell the learner kept
    for gid in (g for g in order if g in tests and g not in placed):
        later = [g for g in order[order.index(gid) + 1:] if g in position or g in placed]
        ahead_of.setdefault(later[0] if later else None, []).append(gid)
    cells = []
    for index, cell in enumerate(nb.cells):
        gid = grade_id(cell)
        if gid in tests and index not in kept:
            continue  # a duplicate, or a copy out of place: the released one goes where it belongs
        if gid is not None and (position.get(gid) == index or kept.get(index) == gid):
            cells += [copy.deepcopy(tests[g]) for g in ahead_of.get(gid, [])]
        cells.append(copy.deepcopy(tests[gid]) if gid in tests else cell)
    cells += [copy.deepcopy(tests[g]) for g in ahead_of.get(None, [])]
    nb.cells = [nbformat.from_dict(cell) for cell in cells]
    return restored


HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.DOTALL)


def _same(cell, released):
    """Whether the learner's test cell is the released one (the source notebook's, hidden tests and
    all, counts as the same: an instructor's test submission), whitespace aside."""
    meta, wanted = cell.get("metadata", {}).get("nbgrader", {}), released.metadata.get("nbgrader", {})
    visible = HIDDEN.sub("", str(cell.get("source", "")))
    return (cell.get("cell_type") == released.cell_type and visible.split() == released.source.split()
            and all(meta.get(k) == wanted.get(k) for k in ("grade", "solution", "locked", "points")))


def _in_order(index, gid, order, position):
    """Whether the learner's test cell at index stands between the answers and instructions that
    come before and after it in the released notebook (those the learner kept)."""
    at = order.index(gid)
    before = [position[g] for g in order[:at] if g in position]
    after = [position[g] for g in order[at + 1:] if g in position]
    return (not before or max(before) < index) and (not after or index < min(after))


def describe(restored):
    """One line for the report: 'test_a (deleted), test_b (edited, moved)'."""
    return ", ".join(f"{gid} ({', '.join(kinds)})" for gid, kinds in restored.items())


def output_note(kinds):
    return (f"Note: this test cell was restored from the assignment ({', '.join(kinds)} in the submission); "
            f"it was graded as the assignment has it.\n")


class RestoreTestCells(NbGraderPreprocessor):
    """nbgrader's sanitising step (before OverwriteCells): the released test cells put back."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        released = self._released(info["assignment"], info["notebook"])
        if released is None:
            self.log.warning("gru_ref: no released notebook %s of %s found: test cells not restored",
                             info["notebook"], info["assignment"])
            nb.metadata.pop(RESTORED, None)
            return nb, resources
        restored = restore(nb, released)
        nb.metadata[RESTORED] = restored  # ours: whatever the learner wrote there is replaced
        if restored:
            self.log.warning("%s: test cells restored from the assignment: %s", info.get("student"),
                             describe(restored))
        return nb, resources

    def _released(self, assignment, notebook):
        parent = self.parent
        while parent is not None and getattr(parent, "coursedir", None) is None:
            parent = parent.parent
        if parent is None:
            return None
        coursedir = parent.coursedir
        path = os.path.join(coursedir.format_path(coursedir.release_directory, ".", assignment), f"{notebook}.ipynb")
        try:
            return nbformat.read(path, as_version=4)
        except OSError:
            return None


def with_restore(steps):
    """nbgrader's sanitising steps with RestoreTestCells before DeduplicateIds (which would turn a
    duplicate into a learner's cell) and OverwriteCells (which writes the source's text into it)."""
    from nbgrader.preprocessors import DeduplicateIds
    steps = [step for step in steps if step is not RestoreTestCells]
    steps.insert(steps.index(DeduplicateIds) if DeduplicateIds in steps else 0, RestoreTestCells)
    return steps
