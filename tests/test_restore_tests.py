"""Test cells cannot be removed or edited away (issue 16, item 2): whatever a learner did to a test
cell, grading puts the released one back, in the released order, and says which and why
(gru_ref.grading.restore_tests; end to end in tests/test_class_grading.py)."""
import copy

import nbformat
import pytest

from conftest import ROOT, fill
from learner_code import GRU_CELL, GRU_CELL_GRAD, MY_GRU_WITH_CELL
from gru_ref.grading.plan import plan_notebook
from gru_ref.grading.restore_tests import RESTORED, describe, grade_id, is_test, restore

RELEASED = nbformat.read(ROOT / "exercises" / "gru" / "gru.ipynb", as_version=4)
TESTS = [grade_id(c) for c in RELEASED.cells if is_test(c)]
RIGHT = {"gru_cell": GRU_CELL, "my_gru": MY_GRU_WITH_CELL, "gru_cell_grad": GRU_CELL_GRAD}


def submitted():
    return fill(ROOT / "exercises" / "gru" / "gru.ipynb", RIGHT)


def index(nb, gid):
    return [grade_id(c) for c in nb.cells].index(gid)


def released_tests_in_order(nb):
    """The notebook's test cells are the released ones, each once, each after its answer."""
    found = [c for c in nb.cells if grade_id(c) in TESTS]
    assert [grade_id(c) for c in found] == TESTS
    wanted = {grade_id(c): c for c in RELEASED.cells if is_test(c)}
    assert all(c.source == wanted[grade_id(c)].source and is_test(c) for c in found)
    assert index(nb, "gru_cell") < index(nb, "test_gru_cell") < index(nb, "my_gru") \
        < index(nb, "test_my_gru_contract") < index(nb, "gru_cell_grad") < index(nb, "test_gru_cell_grad")
    assert [t.grade_id for t in plan_notebook(nb).tests] == TESTS  # what the grader then checks
    return True


def test_an_untouched_notebook_is_left_as_it_is():
    nb = submitted()
    before = copy.deepcopy(nb)
    assert restore(nb, RELEASED) == {}
    assert nb == before


def test_a_deleted_test_cell_is_put_back_after_its_answer():
    nb = submitted()
    nb.cells = [c for c in nb.cells if grade_id(c) != "test_my_gru_values"]
    assert restore(nb, RELEASED) == {"test_my_gru_values": ["deleted"]}
    assert released_tests_in_order(nb)
    assert index(nb, "test_my_gru_contract") + 1 == index(nb, "test_my_gru_values")


def test_every_test_cell_deleted_are_all_put_back():
    nb = submitted()
    nb.cells = [c for c in nb.cells if grade_id(c) not in TESTS]
    assert restore(nb, RELEASED) == {gid: ["deleted"] for gid in TESTS}
    assert released_tests_in_order(nb)


def test_an_emptied_test_cell_is_restored():
    nb = submitted()
    nb.cells[index(nb, "test_gru_cell")].source = ""
    assert restore(nb, RELEASED) == {"test_gru_cell": ["emptied"]}
    assert released_tests_in_order(nb)


def test_an_edited_test_cell_is_restored():
    nb = submitted()
    nb.cells[index(nb, "test_my_gru_values")].source = "pass  # the test was here"
    assert restore(nb, RELEASED) == {"test_my_gru_values": ["edited"]}
    assert released_tests_in_order(nb)


def test_a_test_cell_whose_metadata_says_it_is_no_test_is_restored():
    nb = submitted()
    meta = nb.cells[index(nb, "test_gru_cell_grad")].metadata.nbgrader
    meta["grade"], meta["solution"] = False, True  # it would run as the learner's own code
    assert restore(nb, RELEASED) == {"test_gru_cell_grad": ["edited"]}
    assert released_tests_in_order(nb)


def test_a_duplicated_test_cell_is_graded_once():
    nb = submitted()
    at = index(nb, "test_gru_cell")
    nb.cells.insert(at, copy.deepcopy(nb.cells[at]))
    nb.cells.append(copy.deepcopy(nb.cells[at]))
    assert restore(nb, RELEASED) == {"test_gru_cell": ["duplicated"]}
    assert released_tests_in_order(nb)
    assert len(nb.cells) == len(submitted().cells)


@pytest.mark.parametrize("to", ["top", "end", "above its answer"])
def test_a_moved_test_cell_goes_back_to_its_place(to):
    nb = submitted()
    cell = nb.cells.pop(index(nb, "test_gru_cell"))
    nb.cells.insert({"top": 0, "end": len(nb.cells), "above its answer": index(nb, "gru_cell")}[to], cell)
    assert restore(nb, RELEASED) == {"test_gru_cell": ["moved"]}
    assert released_tests_in_order(nb)


def test_two_tests_swapped_keep_the_released_order():
    nb = submitted()
    a, b = index(nb, "test_my_gru_contract"), index(nb, "test_my_gru_values")
    nb.cells[a], nb.cells[b] = nb.cells[b], nb.cells[a]
    assert list(restore(nb, RELEASED).values()) == [["moved"]]
    assert released_tests_in_order(nb)


def test_the_learners_own_cells_stay_before_the_test_they_come_before():
    """A cell the learner added after an answer (a fix, a helper) still runs before its test."""
    nb = submitted()
    helper = nbformat.v4.new_code_cell("def helper():\n    return 1")
    nb.cells.insert(index(nb, "test_my_gru_contract"), helper)
    nb.cells = [c for c in nb.cells if grade_id(c) != "test_my_gru_contract"]
    assert restore(nb, RELEASED) == {"test_my_gru_contract": ["deleted"]}
    assert released_tests_in_order(nb)
    assert nb.cells.index(helper) == index(nb, "test_my_gru_contract") - 1


def test_what_was_restored_reads_as_one_line():
    assert describe({"test_a": ["deleted"], "test_b": ["edited", "moved"]}) == \
        "test_a (deleted), test_b (edited, moved)"
    assert RESTORED == "gru_ref_restored_tests"


def test_the_source_notebooks_own_test_cells_count_as_released():
    """An instructor's check submission (the source notebook, hidden tests and all) restores nothing."""
    source = nbformat.read(ROOT / "solutions" / "gru" / "gru.ipynb", as_version=4)
    assert any("BEGIN HIDDEN TESTS" in c.source for c in source.cells if is_test(c))
    assert restore(source, RELEASED) == {}
