"""Learner text written out as text: through nbconvert's Markdown (nbgrader's comments, learner
markdown), into the class report's HTML, into grades.csv, and as a student id."""
import csv
from html.parser import HTMLParser

import nbformat
from nbconvert.filters.markdown import markdown2html

from gru_ref.grading.learner_text import markdown_literal, spreadsheet_cell, unsafe_student_id, visible
from gru_ref.grading.nbgrader_steps import describe_flags, strip_learner_html

PAYLOADS = ['import gc  # <img src=x onerror=alert(1)><script>alert(2)</script>',
            "[a](javascript:alert(3)) ![p](http://evil.example/p.png) <http://evil.example/x>",
            "&lt;script&gt; &#60;b&#62; $\\href{javascript:alert(4)}{m}$ **b** _i_",
            "`````", "    ```", "~~~~", "x = 1 # ```\r<script>alert(5)</script>", "\u2028<b>", "a\u202eb\x1b[31m"]


class Tags(HTMLParser):
    def __init__(self, html):
        super().__init__()
        self.tags, self.text = [], ""
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_data(self, data):
        self.text += data


def test_a_literal_renders_as_one_block_of_the_exact_text():
    rendered = Tags(markdown2html(markdown_literal(PAYLOADS)))
    assert rendered.tags == [("pre", []), ("code", [])]
    assert rendered.text.rstrip("\n").split("\n") == [visible(p) for p in PAYLOADS]


def test_visible_shows_every_break_and_control_character():
    assert visible("a\rb\nc\u2028d\x1be\u202ef\tg") == "a\\rb\\nc\\u2028d\\x1be\\u202ef\tg"


def test_the_flag_comment_shows_the_flagged_lines_as_text():
    flags = [(0, n + 1, line, f"uses {line}") for n, line in enumerate(PAYLOADS)]
    rendered = Tags(markdown2html(describe_flags(flags)))
    assert [tag for tag, _ in rendered.tags] == ["p", "pre", "code"]
    for line in PAYLOADS:
        assert f"{visible(line)}  <- uses {visible(line)}" in rendered.text


def test_learner_cells_and_metadata_lose_their_markup():
    nb = nbformat.v4.new_notebook(metadata={"title": "<script>", "widgets": {"x": "</script>"}})
    nb.cells = [nbformat.v4.new_markdown_cell("\n".join(PAYLOADS)), nbformat.v4.new_raw_cell("<script>")]
    nb.cells[0].metadata.update(tags=['"><script>'], jupyter={"x": "<b>"})
    nb.cells[0]["attachments"] = {"a.svg": {"image/svg+xml": "<svg onload=alert(1)>"}}
    nb.cells[1].metadata["raw_mimetype"] = "text/html"
    strip_learner_html(nb)
    assert set(nb.metadata) == {"kernelspec", "language_info"}
    assert all(not c.metadata and "attachments" not in c for c in nb.cells)
    assert [tag for tag, _ in Tags(markdown2html(nb.cells[0].source)).tags] == ["pre", "code"]
    assert [tag for tag, _ in Tags(markdown2html(nb.cells[1].source)).tags] == ["pre", "code"]


def test_no_csv_cell_is_a_formula(tmp_path):
    values = ["=1+2", "+1", "-1", "@SUM(A1)", "\t=1", "alice", 3.0, -1.5, ""]
    with open(tmp_path / "x.csv", "w", newline="") as f:
        csv.writer(f).writerow([spreadsheet_cell(v) for v in values])
    with open(tmp_path / "x.csv") as f:
        row = next(csv.reader(f))
    assert row[:5] == ["'=1+2", "'+1", "'-1", "'@SUM(A1)", "'\t=1"] and row[5:] == ["alice", "3.0", "-1.5", ""]


def test_only_plain_names_are_student_ids():
    for name in ("alice", "jane.doe@uni.edu", "s1234", "josé"):
        assert unsafe_student_id(name) is None, name
    for name in ("=1+2", "-x", "@x", "_x", "<b>", 'a"b', "a'b", "a b", "a,b", "a\\b", "a\u202eb", "x" * 129, ""):
        assert "cannot be a student id" in unsafe_student_id(name), name
