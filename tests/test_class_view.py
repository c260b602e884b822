"""Issue 17, the class seen whole, at the unit level: the judge's stored diagnoses, mistake groups and the
per-learner view, the template of one comment per group, per-learner hidden cases drawn from the
course's secret (which never enters the box). The end-to-end halves (a class graded, a comment reaching
exactly its group's feedback) are in tests/test_class_grading.py, on its shared class."""
import os
import stat
from types import SimpleNamespace

import nbformat
import pytest

from conftest import ROOT
from gru_ref.grading import comments, mistake_groups, report
from gru_ref.grading.plan import read_checks
from gru_ref.judge import Judge, secret


def _verdict(name, message="", where="", signature=""):
    return {"passed": False, "message": message or name, "diagnosis": name, "where": where, "signature": signature}


RESULTS = {
    "ann": {"tests": {"values": _verdict("z_swapped", where="output[:, 0]"), "grads": _verdict("z_swapped")},
            "flags": [[2, 3, "import gc", "imports gc"]]},
    "bob": {"tests": {"values": _verdict("z_swapped", where="output[:, 1]"), "grads": {"passed": True, "message": ""}}},
    "cid": {"tests": {"values": _verdict("unknown_mistake"), "grads": {"passed": True, "message": ""}}},
    "<b>dan</b>": {"tests": {"values": {"passed": False, "message": "reached a built-in recurrent kernel "
                                                                      "(aten::gru): no credit"}}},
}


def test_the_groups_list_who_shows_each_diagnosis_largest_first_with_a_first_difference():
    found, where = mistake_groups.groups(list(RESULTS), RESULTS)
    assert found == {"values": {"z_swapped": ["ann", "bob"], "builtin_kernel": ["<b>dan</b>"],
                                "unknown_mistake": ["cid"]},
                     "grads": {"z_swapped": ["ann"]}}
    assert where[("values", "z_swapped")] == "output[:, 0]"  # its first learner's
    assert mistake_groups.by_learner(found) == {"ann": ["z_swapped"], "bob": ["z_swapped"],
                                                "<b>dan</b>": ["builtin_kernel"], "cid": ["unknown_mistake"]}


def test_the_report_shows_groups_and_each_learner_escaped():
    found, where = mistake_groups.groups(list(RESULTS), RESULTS)
    html = mistake_groups.html_groups(found, where)
    assert "<strong>z swapped</strong>: 2 learners" in html and "none of the known mistakes</strong>: 1 learner" in html
    assert "built-in recurrent kernel refused</strong>: 1 learner" in html
    assert "first difference (ann): output[:, 0]" in html
    assert "<b>dan</b>" not in html and "&lt;b&gt;dan&lt;/b&gt;" in html
    submissions = [SimpleNamespace(student=s, status="graded", notes=[]) for s in RESULTS] + [
        SimpleNamespace(student="eve", status="refused", notes=["not graded: symbolic links <i>"])]
    rows = {"ann": {"score": 5.0, "max_score": 15.0, "overrides": {"values": (0.0, 3.0)}}}
    view = mistake_groups.html_learners(submissions, rows, RESULTS, found)
    ann = view[view.index('id="learner-ann"'):].split("</tr>")[0]
    assert "z swapped" in ann and "cell 3, line 3: imports gc" in ann and "values: 0.0 -&gt; 3.0" in ann
    assert "5 / 15" in ann
    assert "not graded: symbolic links &lt;i&gt;" in view and "<i>" not in view


def test_a_message_from_before_diagnoses_were_stored_is_still_named():
    assert mistake_groups.diagnosis({"passed": False, "message": "It matches none of the common mistakes"}) == \
        "unknown_mistake"
    assert report.diagnosis("my_gru raised an exception.\n\nValueError") == "raises an exception"


def test_the_judge_stores_the_mistake_by_its_stable_name_and_where_it_shows():
    judge = Judge("my_gru", ("quick",), seed=3)
    case, inputs = judge.cases[0], judge.inputs[0]
    from gru_ref.assignments.gru import MISTAKES
    z_swapped = next(m for m in MISTAKES if m.name == "z_swapped")
    from gru_ref.reference.mistakes import function
    outputs = [t.to(case.torch_dtype) for t in function(judge.task, z_swapped)(*(inputs[n] for n in judge.task.arg_names))]
    record = {"status": "ok", "returned": [["Tensor", tuple(t.shape), case.dtype, "cpu"] for t in outputs],
              "returned_type": "tuple", "outputs": outputs, "requires_grad": [False, False]}
    verdict = judge.rule([record], {})
    assert not verdict.passed and verdict.diagnosis == "z_swapped"
    assert verdict.where.startswith("First difference: output[:, ") and verdict.signature == ""  # cases not shared
    shared = Judge("my_gru", ("quick",), seed=3, shared=True)
    assert shared.rule([record], {}).signature  # the same cases for everyone: a digest to compare


@pytest.mark.parametrize("exception, text, group", [
    ("ValueError", "z_swapped's lesson", "raises"),  # the learner quotes a mistake's lesson: not that group
    ("RuntimeError", "reached a built-in recurrent kernel; ran torch operators", "raises"),
    ("gradient", "a class of the learner's named after a group", "raises"),
    ("NotImplementedError", "", "not_attempted"),  # the released stub's own: still named
])
def test_a_learner_cannot_choose_their_mistake_group_by_the_text_of_an_error(exception, text, group):
    """The diagnosis, and with it the instructor's comment for a group, is the judge's call: the words of
    a learner's exception, traceback or class name never decide it (they still show in the message)."""
    judge = Judge("my_gru", ("quick",), seed=3)
    from gru_ref.assignments.gru import MISTAKES
    text = text.replace("z_swapped's lesson", next(m.lesson for m in MISTAKES if m.name == "z_swapped"))
    error = f'Traceback (most recent call last):\n  File "<cell>", line 3, in my_gru\n{exception}: {text}'
    verdict = judge.rule([{"status": "error", "error": error, "exception": exception, "text": text,
                           "builtin_ops": []}], {})
    assert not verdict.passed and verdict.diagnosis == group and error in verdict.message
    returned = {"status": "ok", "returned": [["Tensor", (2, 3, 5), "float64", "cpu"]] * 2, "outputs": [],
                "returned_type": "gradient", "requires_grad": [False, False]}  # an object of a class `gradient`
    assert judge.rule([returned], {}).diagnosis == "other"


# One comment per group: the template, kept when edited.

def test_the_comments_template_lists_each_group_and_keeps_the_instructors_edits(tmp_path):
    found, _ = mistake_groups.groups(list(RESULTS), RESULTS)
    assert comments.write_template(tmp_path, "gru", found) == ["z_swapped", "builtin_kernel", "unknown_mistake"]
    text = (tmp_path / "comments.yml").read_text()
    assert "# z swapped: 2 learners\nz_swapped: \"\"" in text and "dan" not in text  # no ids in it
    assert comments.load(tmp_path / "comments.yml") == {"z_swapped": "", "builtin_kernel": "", "unknown_mistake": ""}
    (tmp_path / "comments.yml").write_text(text.replace('z_swapped: ""', 'z_swapped: |\n  Read h = (1 - z) * n + z * h.'))
    later = {**RESULTS, "fay": {"tests": {"values": _verdict("reset_gate_missing")}}}
    assert comments.write_template(tmp_path, "gru", mistake_groups.groups(list(later), later)[0]) == ["reset_gate_missing"]
    written = comments.load(tmp_path / "comments.yml")
    assert written["z_swapped"] == "Read h = (1 - z) * n + z * h." and written["reset_gate_missing"] == ""
    assert comments.write_template(tmp_path, "gru", found) == []  # nothing new: the file is left alone


def test_a_broken_comments_file_is_one_line_and_never_rewritten(tmp_path, capsys):
    (tmp_path / "comments.yml").write_text("z_swapped: \"unclosed\n")
    with pytest.raises(comments.CommentsError, match=r"not valid YAML at line \d+: put each comment in quotes"):
        comments.load(tmp_path / "comments.yml")
    found, _ = mistake_groups.groups(list(RESULTS), RESULTS)
    assert comments.write_template(tmp_path, "gru", found) == []
    assert (tmp_path / "comments.yml").read_text() == "z_swapped: \"unclosed\n"
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and "Not adding new groups to it:" in said and "not valid YAML" in said
    (tmp_path / "comments.yml").write_text("- a list\n")
    with pytest.raises(comments.CommentsError, match="must map each group's name to a comment"):
        comments.load(tmp_path / "comments.yml")


# Per-learner hidden cases.

def _solution_test_cell(grade_id):
    nb = nbformat.read(ROOT / "solutions" / "gru" / "gru.ipynb", as_version=4)
    return next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_the_checks_between_nbgrader_hidden_markers_are_hidden():
    checks = read_checks(_solution_test_cell("test_my_gru_values"), "test_my_gru_values")
    assert [(c.parts, c.hidden) for c in checks] == [(("quick",), False), (("values",), True)]


def _cases(keys, hidden):
    from gru_ref.grading.plan import Check
    from gru_ref.grading.submission import _judge
    judge = _judge(Judge, Check("my_gru", "my_gru", ("values",), hidden), "test_my_gru_values/1", 10, keys)
    index, data = judge.payload()
    return [(c.B, c.T, c.F, c.H) for c in judge.cases], data


def test_two_learners_get_different_hidden_cases_the_same_visible_ones_and_a_regrade_the_same(tmp_path):
    ada, ben = secret.keys(tmp_path, "gru", "ada"), secret.keys(tmp_path, "gru", "ben")
    sizes_ada, tensors_ada = _cases(ada, hidden=True)
    sizes_ben, tensors_ben = _cases(ben, hidden=True)
    assert tensors_ada != tensors_ben and sizes_ada != sizes_ben  # weights and sizes of their own
    assert _cases(secret.keys(tmp_path, "gru", "ada"), hidden=True) == (sizes_ada, tensors_ada)  # regraded
    assert _cases(ada, hidden=False) == _cases(ben, hidden=False)  # the visible checks: the same for everyone
    assert [s for s in sizes_ada if 1 in s[:2]]  # the B = 1 and T = 1 edge cases stay
    (tmp_path / "other").mkdir()
    other_course = secret.keys(tmp_path / "other", "gru", "ada")
    assert _cases(other_course, hidden=True)[1] != tensors_ada


def test_the_secret_is_made_once_readable_by_its_owner_only(tmp_path):
    first = secret.course_secret(tmp_path)
    path = tmp_path / secret.SECRET_PATH
    assert len(first) == 32 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret.course_secret(tmp_path) == first
    os.chmod(path, 0o644)
    with pytest.raises(secret.SecretError, match="chmod 600"):
        secret.course_secret(tmp_path)
    path.unlink()
    (tmp_path / "elsewhere").write_bytes(first)
    path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(secret.SecretError, match="not a link"):
        secret.course_secret(tmp_path)


def test_a_secret_gone_after_grading_is_refused_not_made_again(tmp_path):
    """A copy of the course without .gru_ref/secret (it is not committed), after a class was graded with
    one: a new secret would silently change every learner's hidden cases, so it is refused, saying
    what to do; a course never graded gets its secret."""
    (tmp_path / ".gru_ref" / "gru" / "results").mkdir(parents=True)
    (tmp_path / ".gru_ref" / "gru" / "results" / "0123.json").write_text("{}")
    with pytest.raises(secret.SecretError, match=r"secret .* is missing, but this course was graded with one "
                                                  r"\(.*results\): restore it from a backup"):
        secret.course_secret(tmp_path)
    assert not (tmp_path / secret.SECRET_PATH).exists()
    (tmp_path / ".gru_ref" / "gru" / "results" / "0123.json").unlink()
    assert len(secret.course_secret(tmp_path)) == secret.SECRET_BYTES  # nothing graded yet: made


def test_grading_refuses_a_course_the_box_would_show(tmp_path, monkeypatch):
    """A course inside a folder the box shows read-only (the Python environment's, as in a container whose
    venv is its working folder; /usr): learners' code could read the secret, solutions/ and the
    gradebook there, so grading refuses in one line; a course elsewhere is hidden."""
    import sys
    from traitlets.config import Config
    from gru_ref.grading import bwrap
    from gru_ref.grading.nbgrader_steps import SandboxedExecute
    inside = os.path.join(sys.prefix, "course")
    for root in (inside, "/usr/local/course"):
        with pytest.raises(bwrap.SandboxUnavailable, match="which the sandbox shows to learners' code") as refused:
            bwrap.check_course_hidden(root)
        assert "\n" not in str(refused.value)
    bwrap.check_course_hidden(tmp_path)
    config = Config()
    config.CourseDirectory.root = inside
    monkeypatch.delenv("GRU_REF_NO_SANDBOX", raising=False)
    with pytest.raises(bwrap.SandboxUnavailable):  # plain nbgrader autograde too, before reading any secret
        SandboxedExecute(config=config)._keys({"assignment": "gru", "student": "ada"})
    assert not os.path.exists(inside)


@pytest.mark.parametrize("harm", ["world-readable", "missing after grading"])
def test_the_class_command_with_a_broken_secret_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, harm):
    import shutil
    import sys
    from nbgrader.api import Gradebook
    from conftest import VENV_BIN
    from gru_ref import grade
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    (tmp_path / "exercises" / "gru").mkdir(parents=True)
    shutil.copy(ROOT / "exercises" / "gru" / "gru.ipynb", tmp_path / "exercises" / "gru")
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")  # nbgrader's alembic
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        gradebook.add_assignment("gru")
    path = tmp_path / secret.SECRET_PATH
    path.parent.mkdir()
    if harm == "missing after grading":
        (path.parent / "gru").mkdir()
        (path.parent / "gru" / "recorded.json").write_text("{}")
    else:
        path.write_bytes(os.urandom(secret.SECRET_BYTES))
        path.chmod(0o644)
    monkeypatch.chdir(tmp_path)  # the class command moves to the course root: back after
    monkeypatch.setattr(sys, "argv", ["gru_ref.grade"])
    monkeypatch.setenv("GRU_REF_NO_SANDBOX", "1")  # nothing runs: the secret stops it first
    assert grade.main(["gru", "--root", str(tmp_path), "--workers", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"Cannot grade: the course's secret {path}") and "Traceback" not in "".join(err), err


def test_student_ids_that_look_alike_draw_apart_and_unsafe_ones_are_refused():
    """Folder names are the learner's (or the LMS's): ids that differ only in case, width or Unicode form
    get keys of their own, so no one can share another's hidden cases by a look-alike name; a name
    with a path, markup, a line break or a combining mark never becomes a student id."""
    from gru_ref.grading.learner_text import unsafe_student_id
    course = os.urandom(secret.SECRET_BYTES)
    alike = ["ada", "ADA", "\uff41\uff44\uff41", "ad\u0430", "12345", "\u0661\u0662\u0663\u0664\u0665"]
    assert len({secret.learner_key(course, "gru", s) for s in alike}) == len(alike)
    for hostile in ("../ada", "ada/x", "<b>ada</b>", "ada\nben", "x\0ada", ".ada", "e\u0301", "=1+2", "a" * 129):
        assert unsafe_student_id(hostile), hostile


# The learner's cell looks for the secret, and the learner's key, in every file it can read, its
# environment and every process's command line, with the needles built at run time (the cell's own
# source holds them in pieces only).
LOOK_FOR_SECRET = r'''
import os
needles = [bytes.fromhex("{a}" + "{b}"), ("{a}" + "{b}").encode(), ("{c}" + "{d}").encode()]
found, read = [], 0
SYSTEM = ("/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc")  # the system's, read-only
for folder, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(folder, d) not in SYSTEM and d not in ("site-packages", "share")]
    for name in files:
        path = os.path.join(folder, name)
        try:
            if os.path.islink(path) or os.path.getsize(path) > 1 << 20:
                continue
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        read += 1
        found += [path for n in needles if n in data]
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    for what in ("cmdline", "environ"):
        try:
            with open(f"/proc/{{pid}}/{{what}}", "rb") as f:
                data = f.read()
        except OSError:
            continue
        found += [f"/proc/{{pid}}/{{what}}" for n in needles if n in data]
found += [k for k, v in os.environ.items() if any(n in v.encode() for n in needles)]
print("files read:", read, "found:", found)
'''


def test_the_secret_and_the_learners_key_never_enter_the_box(tmp_path):
    from gru_ref.grading.box import Box
    from gru_ref.grading.submission import grade_notebook
    hexed = secret.course_secret(tmp_path).hex()
    keys = secret.keys(tmp_path, "gru", "ada")
    nb = nbformat.read(ROOT / "solutions" / "gru" / "gru.ipynb", as_version=4)  # hidden checks and all
    nb.cells.append(nbformat.v4.new_code_cell(LOOK_FOR_SECRET.format(
        a=hexed[:32], b=hexed[32:], c=keys["learner"][:32], d=keys["learner"][32:])))
    box = Box()
    try:
        result = grade_notebook(nb, box, {}, keys)
    finally:
        box.close()
    assert all(v["passed"] for v in result["tests"].values()), result["tests"]  # hidden cases of its own: passed
    printed = "".join(o.get("text", "") for o in result["outputs"][str(len(nb.cells) - 1)])
    assert "found: []" in printed, printed
    assert int(printed.split("files read: ")[1].split()[0]) > 100  # it did look



def test_nbgraders_own_autograde_draws_the_same_learners_cases_and_caches_them_apart(tmp_path):
    """Plain `nbgrader autograde` (SandboxedExecute) takes the learner's keys from the course's secret, as
    the class command does; two learners' equal notebooks are two results, not one."""
    from traitlets.config import Config
    from gru_ref.grading import fingerprint
    from gru_ref.grading.nbgrader_steps import SandboxedExecute
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    step = SandboxedExecute(config=config)
    ada = step._keys({"assignment": "gru", "student": "ada"})
    assert ada == secret.keys(tmp_path, "gru", "ada") and step._keys({}) is None
    nb = nbformat.read(ROOT / "solutions" / "gru" / "gru.ipynb", as_version=4)
    context = fingerprint.context(ROOT / "solutions" / "gru")
    assert fingerprint.key("ada", nb, context, ada) != fingerprint.key("ada", nb, context, secret.keys(tmp_path, "gru", "ben"))
    assert fingerprint.key("ada", nb, context, ada) == fingerprint.key("ada", nb, context, secret.keys(tmp_path, "gru", "ada"))


def test_a_comment_under_a_name_no_group_has_is_said_once_and_reaches_no_one(tmp_path, caplog, capsys):
    """A typo in comments.yml (z_swaped) sends nothing, silently no more: the class command and
    generate_feedback each say it in one line (once for the class), and the right names still work;
    a mistake_groups.json that is not the class command's is one line too, not a traceback."""
    from traitlets.config import Config
    folder = tmp_path / "reports" / "gru"
    folder.mkdir(parents=True)
    found, _ = mistake_groups.groups(list(RESULTS), RESULTS)
    mistake_groups.write_json(folder, "gru", found)
    (folder / "comments.yml").write_text('z_swaped: "Which state does z keep?"\nbuiltin_kernel: "Write it yourself."\n'
                                         'unknown_mistake: ""\n')
    comments.write_template(folder, "gru", found)
    said = f"{folder / 'comments.yml'}: no learner is in a group named 'z_swaped' (the groups are those of report.html)"
    assert capsys.readouterr().err.startswith(said)
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    outputs = {}
    with caplog.at_level("WARNING"):
        for student in RESULTS:
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade_id": g}})
                                                 for g in ("values", "grads")])
            nb, _ = comments.GroupComments(config=config).preprocess(nb, {"nbgrader": {"assignment": "gru",
                                                                                       "student": student}})
            outputs[student] = [o["text"] for c in nb.cells for o in c.outputs]
    assert [r.getMessage() for r in caplog.records] == [said + ": its comment reaches no one; correct the name, "
                                                               "then generate the feedback again"]
    assert outputs == {"ann": [], "bob": [], "cid": [], "<b>dan</b>": [
        "A note from your instructor on this mistake (built-in recurrent kernel refused):\nWrite it yourself.\n"]}
    (folder / mistake_groups.GROUPS_FILE).write_text('{"groups": [1, 2')
    with pytest.raises(comments.CommentsError, match="is not the class command's: run `python -m gru_ref.grade`"):
        comments.for_learner(folder, "ann")


def test_recording_a_class_reads_the_secret_and_hashes_the_source_once(tmp_path, monkeypatch):
    """The class command records every learner through one SandboxedExecute: the course's secret is
    read, and the source notebooks hashed, once for the class, not once a learner."""
    from traitlets.config import Config
    from gru_ref.grading import fingerprint
    from gru_ref.grading.nbgrader_steps import SandboxedExecute
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    step = SandboxedExecute(config=config, results_folder=str(tmp_path / "results"))
    reads, hashes = [], []
    monkeypatch.setattr(secret, "_read", lambda path, read=secret._read: reads.append(path) or read(path))
    monkeypatch.setattr(fingerprint, "source", lambda folder, hash=fingerprint.source: hashes.append(folder) or hash(folder))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    students = ("ada", "ben", "cy")
    for student in students:
        info = {"assignment": "gru", "student": student}
        assert step._cached(nb, info, step._keys(info)) is None  # nothing graded ahead
    assert len(reads) == 1 and len(hashes) == 1, (reads, hashes)
    assert [step._keys({"assignment": "gru", "student": s}) for s in students] == \
        [secret.keys(tmp_path, "gru", s) for s in students]  # the same keys as read afresh


def test_feedback_with_a_broken_comments_file_says_so_in_one_line_and_adds_nothing(tmp_path, caplog):
    from traitlets.config import Config
    folder = tmp_path / "reports" / "gru"
    folder.mkdir(parents=True)
    found, _ = mistake_groups.groups(list(RESULTS), RESULTS)
    mistake_groups.write_json(folder, "gru", found)
    (folder / "comments.yml").write_text("z_swapped: [\n")
    config = Config()
    config.CourseDirectory.root = str(tmp_path)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", metadata={"nbgrader": {"grade_id": g}})
                                         for g in ("values", "grads")])  # ann shows z_swapped in both
    step = comments.GroupComments(config=config)
    with caplog.at_level("ERROR"):
        nb, _ = step.preprocess(nb, {"nbgrader": {"assignment": "gru", "student": "ann"}})
    assert nb.cells[0].outputs == nb.cells[1].outputs == []
    assert [r.getMessage() for r in caplog.records] == [
        f"ann: no group comment added: {folder / 'comments.yml'} is not valid YAML at line 2: put each comment "
        f"in quotes, or in a block after `name: |`, then generate the feedback again"]
    (folder / "comments.yml").write_text('z_swapped: "Which state does z keep?"\n')
    nb, _ = step.preprocess(nb, {"nbgrader": {"assignment": "gru", "student": "ann"}})
    assert nb.cells[0].outputs[0]["text"] == "A note from your instructor on this mistake (z swapped):\nWhich state does z keep?\n"
    assert nb.cells[1].outputs == []  # once per learner, under the first cell that shows it
