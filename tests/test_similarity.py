"""Issue 17, item 4: `python -m gru_ref.similarity`, pairs of submissions to read side by side. Planted
copies (names changed, helpers reordered, comments and layout changed) pair with their originals; 50
right answers written independently (tests/similar_code.py) pair with nothing; two learners with the
same unusual wrong output pair, a known mistake shared by many does not."""
import re
import shutil

import nbformat
import torch

from conftest import ROOT, fill
from gru_ref.grading import similarity
from similar_code import independent_answers

RELEASED = ROOT / "exercises" / "gru" / "gru.ipynb"


def _right(answer):
    """Whether an answer's my_gru matches nn.GRU (the generated answers are right answers)."""
    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 5, batch_first=True, dtype=torch.float64)
    inp, h0 = torch.randn(2, 4, 3, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    namespace = {"torch": torch}
    exec(answer["gru_cell"] + "\n" + answer["my_gru"], namespace)
    output, h = namespace["my_gru"](inp, h0, *(p.detach() for p in gru.parameters()))
    with torch.no_grad():
        want, h_n = gru(inp, h0[None])
    return torch.allclose(output, want) and torch.allclose(h, h_n[0])


def _disguised(answer):
    """A copy as a copier makes it: every name of theirs changed, the helper moved below the function
    that calls it, comments added, the layout changed."""
    names = sorted({n for source in answer.values() for n in re.findall(r"\b[a-z_][a-z_0-9]*\b", source)}
                   - {"torch", "def", "return", "for", "in", "range", "while", "enumerate", "dim", "shape", "input",
                      "initial_states", "w_ih", "w_hh", "b_ih", "b_hh", "gru_cell", "my_gru", "nn", "functional",
                      "linear", "matmul", "addmm", "sigmoid", "tanh", "exp", "lerp", "stack", "cat", "chunk", "split",
                      "unbind", "transpose", "append", "unsqueeze", "new_empty", "t", "T"})
    renamed = {}
    for key, source in answer.items():
        for i, name in enumerate(names):
            source = re.sub(rf"\b{name}\b", f"my_var_{i}", source)
        source = source.replace(" = ", "  =  ").replace("\n    return", "\n    # the result\n\n    return")
        renamed[key] = "# my own work\n" + source
    cell = renamed["gru_cell"]
    if cell.count("def ") == 2:  # the helper after gru_cell
        helper, _, rest = cell.partition("\n\n\ndef gru_cell")
        renamed["gru_cell"] = "def gru_cell" + rest + "\n\n" + helper.replace("# my own work\n", "")
    return renamed


def _codes(answers):
    released = nbformat.read(RELEASED, as_version=4)
    return {student: similarity.answer_code(fill(RELEASED, answer), released) for student, answer in answers.items()}


def test_disguised_copies_pair_and_fifty_independent_right_answers_do_not():
    answers = independent_answers(50)
    assert all(_right(answer) for answer in answers.values())
    with_helper = next(s for s, a in answers.items() if a["gru_cell"].count("def ") == 2)
    answers["copier1"] = _disguised(answers["learner03"])
    answers["copier2"] = _disguised(answers[with_helper])
    assert _right(answers["copier1"]) and _right(answers["copier2"])
    assert answers["copier2"]["gru_cell"].index("def gru_cell") < answers["copier2"]["gru_cell"].index("def ", 5)
    pairs = similarity.code_pairs(_codes(answers))
    assert sorted((a, b) for _, a, b in pairs) == sorted([("copier1", "learner03"), ("copier2", with_helper)])
    assert all(score == 1.0 for score, _, _ in pairs)


def test_untouched_notebooks_pair_with_nothing():
    codes = _codes({"a": {}, "b": {}, "c": {"my_gru": "def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):\n"
                                                      "    return None\n"}})
    assert similarity.code_pairs(codes, threshold=0.01) == []


def test_the_same_unusual_wrong_output_pairs_a_known_mistake_shared_by_many_does_not():
    signatures = {f"l{i}": {"test_my_gru_values": ["z_swapped", "aaaa"]} for i in range(12)}
    signatures["odd1"] = {"test_my_gru_values": ["unknown_mistake", "bbbb"]}
    signatures["odd2"] = {"test_my_gru_values": ["unknown_mistake", "bbbb"]}
    signatures["odd3"] = {"test_my_gru_values": ["unknown_mistake", "cccc"]}  # its own output: alone
    assert similarity.output_pairs(signatures) == [("test_my_gru_values", "odd1", "odd2")]
    common = {f"m{i}": {"test_my_gru_values": ["unknown_mistake", "dddd"]} for i in range(5)}
    assert similarity.output_pairs({**signatures, **common}, most=2) == [("test_my_gru_values", "odd1", "odd2")]


def test_the_command_writes_an_offline_page_with_each_pair_side_by_side_escaped(tmp_path, capsys):
    (tmp_path / "exercises" / "gru").mkdir(parents=True)
    shutil.copy(RELEASED, tmp_path / "exercises" / "gru")
    answers = independent_answers(3)
    answers["<img src=x onerror=alert(1)>"] = {}  # a folder name the class command refuses: never listed
    answers["copier"] = _disguised(answers["learner01"])
    answers["copier"]["my_gru"] += "\n# </pre><script>alert(1)</script>\n"
    for student, answer in answers.items():
        folder = tmp_path / "submitted" / student / "gru"
        folder.mkdir(parents=True)
        nbformat.write(fill(RELEASED, answer), folder / "gru.ipynb")
    assert similarity.main(["gru", "--root", str(tmp_path)]) == 0
    assert "1 pair(s) of nearly the same code" in capsys.readouterr().out
    page = (tmp_path / "reports" / "gru" / "similarity.html").read_text()
    assert "<h3>copier and learner01: 1.00</h3>" in page
    assert "&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page
    assert "onerror" not in page and "http" not in page
    assert similarity.main(["gru", "--root", str(tmp_path), "--threshold", "2"]) == 2
    assert "--threshold must be above 0 and at most 1" in capsys.readouterr().err


def test_a_copy_padded_with_unused_code_still_pairs():
    """Padding a copy with helpers that are never called lowers the Jaccard index at will (12 of them:
    1.0 -> 0.62); nearly all of the copy's 5-grams are still in the padded one, which pairs them."""
    answers = independent_answers(50)
    padded = _disguised(answers["learner03"])
    padded["my_gru"] += "\n\n" + "\n\n".join(f"def unused_{i}(q, r):\n    if q > {i}:\n        return q * r - {i}\n"
                                             f"    return [r] * {i}" for i in range(12))
    answers["padder"] = padded
    codes = _codes(answers)
    a, b = similarity.grams(codes["padder"]), similarity.grams(codes["learner03"])
    assert len(a & b) / len(a | b) < similarity.DEFAULT_THRESHOLD  # what the Jaccard index alone would miss
    assert similarity.code_pairs(codes) == [(1.0, "learner03", "padder")]


HOSTILE_CODE = {
    "deep": "def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):\n    return " + "x+" * 50_000 + "x\n",
    "nulls": "def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):\n    return input\x00\x00\n",
    "huge": "".join(f"def helper_{i}(a, b):\n    return a * {i} + b\n\n" for i in range(40_000)),
}


def test_hostile_code_neither_stops_the_report_nor_holds_it(tmp_path, capsys, monkeypatch):
    """Code nested deeper than Python's parser goes, null bytes, a 1.5 MB answer, 10,000 cells, and a
    notebook that is not JSON: the report is written, in one line; only the first MAX_CODE_CHARS of an
    answer are compared (the time and memory a submission can take are bounded) and shown."""
    (tmp_path / "exercises" / "gru").mkdir(parents=True)
    shutil.copy(RELEASED, tmp_path / "exercises" / "gru")
    answers = {**independent_answers(2), **{name: {"my_gru": code} for name, code in HOSTILE_CODE.items()}}
    answers["copier"] = _disguised(answers["learner01"])
    for student, answer in answers.items():
        folder = tmp_path / "submitted" / student / "gru"
        folder.mkdir(parents=True)
        nbformat.write(fill(RELEASED, answer), folder / "gru.ipynb")
    many = fill(RELEASED, {})
    many.cells += [nbformat.v4.new_code_cell(f"y{i} = {i}") for i in range(10_000)]
    (tmp_path / "submitted" / "cells" / "gru").mkdir(parents=True)
    nbformat.write(many, tmp_path / "submitted" / "cells" / "gru" / "gru.ipynb")
    (tmp_path / "submitted" / "binary" / "gru").mkdir(parents=True)
    (tmp_path / "submitted" / "binary" / "gru" / "gru.ipynb").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff" * 1000)
    compared = []
    grams = similarity.grams
    monkeypatch.setattr(similarity, "grams", lambda code: compared.append(len(code)) or grams(code))
    assert similarity.main(["gru", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 pair(s) of nearly the same code") and len(out.strip().splitlines()) == 1
    assert len(compared) == 7 and max(compared) == similarity.MAX_CODE_CHARS  # "binary" is not a notebook
    page = (tmp_path / "reports" / "gru" / "similarity.html").read_text()
    assert "<h3>copier and learner01: 1.00</h3>" in page


def test_the_bounds_are_the_ones_the_chapter_for_instructors_states():
    chapter = (ROOT / "book" / "08_instructors.md").read_text()
    assert f"{similarity.MAX_CODE_CHARS:,} characters of answer code" in chapter
    assert f"where {similarity.CONTAINED:.0%} of one's 5-grams are in the other's" in chapter


def test_a_page_of_many_pairs_shows_the_first_side_by_side_and_lists_the_rest(monkeypatch):
    """One answer copied by 30 learners pairs them all (435 pairs): the page lists every pair, and shows
    the code of the first SIDE_BY_SIDE only, so its size does not grow with the square of the class."""
    answer = independent_answers(1)["learner00"]
    codes = _codes({f"c{i:02d}": answer for i in range(30)})
    pairs = similarity.code_pairs(codes)
    assert len(pairs) == 435
    monkeypatch.setattr(similarity, "SIDE_BY_SIDE", 5)
    page = similarity.report("gru", codes, pairs, [], 0.8)
    assert page.count("<h3>") == 435 and page.count("<table>") == 5
    assert "The first 5 pairs are shown side by side; the others are listed." in page
