"""The learner's feedback page, piece by piece (gru_ref.grading.feedback_html): the instructor's maths
becomes MathML when the page is made, code and the learner's text keep their dollars, the integrity
scan's comment is left out, and a notebook as it was released is never flagged. The pages themselves,
made by nbgrader end to end, are checked in tests/test_nbgrader.py."""
import re

import nbformat
import pytest
from nbconvert.filters.markdown_mistune import markdown2html_mistune

from conftest import ROOT
from gru_ref.grading import integrity
from gru_ref.grading.feedback_html import HideIntegrityFlags, MathToMathML, math_to_mathml
from gru_ref.grading.nbgrader_steps import describe_flags

ASSIGNMENTS = sorted(p.name for p in (ROOT / "exercises").iterdir() if (p / f"{p.name}.ipynb").exists())


def test_inline_display_and_aligned_maths_become_mathml():
    out = math_to_mathml("gate $z = \\sigma(a)$ and\n\n$$\n\\begin{aligned}\nr &= a && \\text{reset}\\\\\n"
                         "h' &= (1 - z) \\odot n\n\\end{aligned}\n$$\n\nand \\(x_t\\)")
    assert out.count('display="inline"') == 2 and out.count('display="block"') == 1
    assert "<mtable" in out and "<mtr>" in out  # the aligned rows, as a table
    assert "$" not in out and "\\sigma" not in out and "\\odot" not in out and "&amp;" not in out


def test_markdown_syntax_inside_maths_stays_maths():
    html = markdown2html_mistune(math_to_mathml("$a * b * c$ and $x_1 + y_2$"))
    assert "<em>" not in html and html.count("<math") == 2


def test_code_and_unreadable_tex_keep_their_dollars():
    text = "cost `$x$` in code\n\n```\nprice = '$5 and $6'\n```\n\n$\\notacommand{$"
    out = math_to_mathml(text)
    assert "`$x$`" in out and "price = '$5 and $6'" in out and "<math" not in out


def test_only_the_instructors_cells_are_converted():
    locked = nbformat.v4.new_markdown_cell("$x$", metadata={"nbgrader": {"locked": True, "solution": False}})
    answer = nbformat.v4.new_markdown_cell("$x$", metadata={"nbgrader": {"solution": True, "grade": True}})
    learners = nbformat.v4.new_markdown_cell("$x$")
    nb = nbformat.v4.new_notebook(cells=[locked, answer, learners])
    MathToMathML().preprocess(nb, {})
    assert "<math" in locked.source and answer.source == learners.source == "$x$"


def test_the_integrity_comment_is_left_out_and_a_graders_own_is_kept():
    flagged = nbformat.v4.new_code_cell("", metadata={"nbgrader": {
        "solution": True, "comment": describe_flags([(0, 1, "import gc", "imports gc: the garbage collector")])}})
    graders = nbformat.v4.new_code_cell("", metadata={"nbgrader": {"solution": True, "comment": "Well done."}})
    HideIntegrityFlags().preprocess(nbformat.v4.new_notebook(cells=[flagged, graders]), {})
    assert flagged.metadata.nbgrader["comment"] is None and graders.metadata.nbgrader["comment"] == "Well done."


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_a_notebook_as_released_is_never_flagged(assignment):
    """A blank submission (train_gru's `train_and_predict` still raising NotImplementedError was
    flagged: it never reaches my_gru) is nobody's integrity question."""
    nb = nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    cells = [(i, c.source) for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and not c.metadata.get("nbgrader", {}).get("locked")]
    assert cells and integrity.scan(cells) == []


def test_a_train_and_predict_that_returns_nothing_is_not_flagged_but_one_that_returns_is():
    silent = "def train_and_predict(x, y, t):\n    def inner():\n        return t\n    inner()\n"
    assert integrity.scan([(0, silent)]) == []
    assert re.search("never reaches my_gru", str(integrity.scan([(0, silent + "    return t\n")])))


def render(template_name, nb):
    """A page of nbgrader's template as nbgrader_config.py sets it up (our folder searched first)."""
    import os

    import nbgrader
    from nbconvert import HTMLExporter
    from gru_ref.grading.nbgrader_steps import FEEDBACK_TEMPLATES
    bootstrap = os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "static",
                             "node_modules", "bootstrap", "dist", "css")
    exporter = HTMLExporter(template_name=template_name, extra_template_paths=[bootstrap], extra_template_basedirs=[
        FEEDBACK_TEMPLATES, os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates")])
    resources = {"base_url": "", "notebook_id": "n", "index": 0, "total": 1,
                 "nbgrader": {"notebook": "n", "score": 0, "max_score": 1, "late_penalty": 0}}
    return exporter.from_notebook_node(nb, resources=resources)[0]


@pytest.mark.parametrize("template_name", ["feedback", "formgrade"])
def test_a_written_answer_wraps_like_prose(template_name, tmp_path):
    """A written answer is shown as text in a block (learner_text.markdown_literal): in the feedback and
    the formgrader it wraps at the page's width, in the page's font, not as one long monospace line."""
    from playwright.sync_api import sync_playwright
    from gru_ref.grading.learner_text import markdown_literal
    from test_site import CHROMIUM, CHROMIUM_FLAGS
    answer = "The reset gate scales the previous state before the candidate sees it " * 8
    cell = nbformat.v4.new_markdown_cell(markdown_literal([answer]), metadata={"nbgrader": {
        "solution": True, "grade": True, "grade_id": "written", "points": 1, "score": 0}})
    page = tmp_path / "page.html"
    page.write_text(render(template_name, nbformat.v4.new_notebook(cells=[cell])))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            view = browser.new_page(viewport={"width": 900, "height": 700})
            view.route("**/*", lambda route: route.abort() if route.request.url.startswith("http") else route.continue_())
            view.goto(page.as_uri())
            shown = view.evaluate("""() => { const pre = [...document.querySelectorAll('.nbgrader_cell pre')]
                .find(p => p.textContent.includes('reset gate'));
                const style = getComputedStyle(pre);
                return {wrap: style.whiteSpace, font: style.fontFamily, wide: pre.scrollWidth > pre.clientWidth + 1,
                        tall: pre.getBoundingClientRect().height}; }""")
        finally:
            browser.close()
    assert shown["wrap"] == "pre-wrap" and "monospace" not in shown["font"] and not shown["wide"], shown
    assert shown["tall"] > 40, shown  # several lines
