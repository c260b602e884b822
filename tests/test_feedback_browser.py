"""A hostile submission's text, shown to people in a real browser, never runs as markup.

One submission carries payloads in every field a learner writes: the flagged line (nbgrader's auto
comment), prints, stderr and a traceback, a markdown cell, cell tags, metadata and attachments, the
notebook's metadata; two more folders have hostile names. It is graded once, end to end: the class
command (`python -m gru_ref.grade`, whose records are nbgrader's autograde; it writes the class report),
then plain `nbgrader autograde` (the hostile folder names) and `nbgrader generate_feedback`. Then
Debian's Chromium opens (a) the feedback page, (b) every formgrader page for that submission, served
by a Jupyter server at the course root, and (c) the class report. Each payload would set a global,
open a dialog or make a request carrying the marker; every request to another host is aborted and
recorded. None may happen, and the flagged line must read as text.
"""
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

import nbformat
import pytest

from conftest import ROOT, VENV_BIN
from conftest import fill
from gru_ref.grading.nbgrader_steps import FLAG_HEADER
from learner_code import GRU_CELL, GRU_CELL_GRAD, MY_GRU_WITH_CELL
from test_nbgrader import nbgrader
from test_site import CHROMIUM, CHROMIUM_FLAGS, LOCAL_HOSTS

ASSIGNMENT = "gru"
STUDENT = "mallory"
MARK = f"gruxss{uuid.uuid4().hex[:8]}"
# Each payload, if it ran, would leave the marker somewhere the test looks: window.gruPwned, a dialog, a request.
RUN = f"window.gruPwned='{MARK}';alert('{MARK}')"
HTML = (f"<img src=x onerror=\"{RUN}\"><script>{RUN}</script><svg onload=\"{RUN}\"></svg>"
        f"<iframe src=\"javascript:{RUN}\"></iframe><a href=\"javascript:{RUN}\">a</a>")
MARKDOWN = (f"[click](javascript:{RUN}) ![p](http://evil.example/{MARK}.png) <http://evil.example/{MARK}> "
            f"&lt;script&gt;{RUN}&lt;/script&gt; $\\href{{javascript:{RUN}}}{{m}}$ **b** `code`")
SHORT = f"window.gruPwned='{MARK}'"
# Flagged lines (the integrity scan keeps 160 characters of each): HTML, Markdown, fences, entities, maths.
FLAGGED = [f'import gc  # <img src=x onerror="{SHORT}"><script>{SHORT}</script>',
           f"import gc  # [a](javascript:{SHORT}) ![p](http://evil.example/{MARK}.png) <http://evil.example/{MARK}>",
           f"import gc  # &lt;b&gt; $\\href{{javascript:{SHORT}}}{{m}}$ ````` ~~~ **b** </code></pre>"]
BREAKOUT = f"```\n</code></pre>{HTML}\n````````\n{HTML}"  # fences and tags to close whatever holds it
FORMULA_ID = "=1+2"  # folder names: refused, never in the gradebook
HTML_ID = f"<img src=x onerror={RUN.replace(' ', '')}>"
OUTPUTS = f"""
import sys
print({HTML!r}, {MARKDOWN!r})
print({BREAKOUT!r}, file=sys.stderr)
raise ValueError({HTML!r})
"""
ESCAPED = "gru_ref: the formgrader's pages escape what they write"  # its log line
FORMGRADER = {"ServerApp": {"jpserver_extensions": {"nbgrader.server_extensions.formgrader": True}}}
SERVER_START_S = 90


def hostile_notebook(released):
    nb = fill(released, {"gru_cell": GRU_CELL + "\n" + "\n".join(FLAGGED), "my_gru": MY_GRU_WITH_CELL,
                         "gru_cell_grad": GRU_CELL_GRAD}, OUTPUTS, MARKDOWN + "\n\n" + HTML + "\n\n" + BREAKOUT)
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" onload="{RUN}"><script>{RUN}</script></svg>'
    markdown, code = nb.cells[-1], nb.cells[-2]
    markdown.source += "\n\n![a](attachment:a.svg)"
    markdown.attachments = {"a.svg": {"image/svg+xml": svg}}
    code.metadata.tags = [f'"><img src=x onerror="{RUN}">']
    code.metadata.jupyter = {"source_hidden": False, "note": HTML}
    nb.metadata.title = f"</title>{HTML}"
    nb.metadata.authors = [{"name": HTML}]
    nb.metadata.kernelspec = {"name": "python3", "language": "python", "display_name": f"</title>{HTML}"}
    nb.metadata.language_info = {"name": f"python{HTML}", "pygments_lexer": f"no-such{HTML}"}
    nb.metadata.widgets = {"application/vnd.jupyter.widget-state+json": {
        "version_major": 2, "version_minor": 0, "state": {"m": {
            "model_name": "x", "model_module": "x", "model_module_version": "1", "state": {"v": f"</script>{HTML}"}}}}}
    return nb


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_text_course")
    shutil.copy(ROOT / "nbgrader_config.py", root)
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, root / "solutions" / ASSIGNMENT)
    assert nbgrader(["generate_assignment", ASSIGNMENT, "--force"], root).returncode == 0
    released = root / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    folder = root / "submitted" / STUDENT / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(hostile_notebook(released), folder / f"{ASSIGNMENT}.ipynb")
    for name in (FORMULA_ID, HTML_ID):
        os.makedirs(root / "submitted" / name / ASSIGNMENT)
        shutil.copy(released, root / "submitted" / name / ASSIGNMENT)
    graded = subprocess.run([sys.executable, "-m", "gru_ref.grade", ASSIGNMENT, "--workers", "1"], cwd=root,
                            capture_output=True, text=True, timeout=600)
    assert graded.returncode == 0, graded.stderr[-3000:]
    plain = nbgrader(["autograde", ASSIGNMENT], root, timeout=600)
    feedback = nbgrader(["generate_feedback", ASSIGNMENT], root)
    assert feedback.returncode == 0, feedback.stderr[-3000:]
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        students = [s.id for s in gradebook.students]
        submission = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, STUDENT)
        ids = {"notebook": submission.id, "review": submission.needs_manual_grade,
               "comments": [c.auto_comment for c in submission.comments if c.auto_comment]}
    return {"root": root, "plain": plain, "students": students, **ids}


@pytest.fixture(scope="module")
def formgrader(graded):
    """A Jupyter server with nbgrader's formgrader at the course root, on a free port of 127.0.0.1."""
    root, port, token = graded["root"], free_port(), uuid.uuid4().hex
    home = root.parent / "jupyter_home"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTER_PLATFORM_DIRS="1")
    (home / "config").mkdir(parents=True)
    (home / "config" / "jupyter_server_config.json").write_text(json.dumps(FORMGRADER))
    log = open(root.parent / "jupyter_server.log", "w")
    server = subprocess.Popen(
        [str(VENV_BIN / "jupyter-server"), "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--port-retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],  # CI's containers run as root
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/formgrader?token={token}", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the formgrader did not start in {SERVER_START_S} s (exit {server.poll()}):\n"
                            + (root.parent / "jupyter_server.log").read_text()[-3000:])
            time.sleep(0.5)
        log.flush()
        assert ESCAPED in (root.parent / "jupyter_server.log").read_text(), (
            "gru_ref's formgrader extension did not load: run `make setup` (it enables it in .venv)")
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


class Watch:
    """What pages did that a payload would: dialogs, requests with the marker, requests off this machine."""

    def __init__(self):
        self.dialogs, self.marked, self.offsite = [], [], []


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing at /usr/bin/chromium: run `bash tools/install-browser.sh`")
    from playwright.sync_api import sync_playwright
    watch = Watch()

    def route(route_):
        url = route_.request.url
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).hostname not in LOCAL_HOSTS:
            watch.offsite.append(url)
            if MARK in url:  # the formgrader's own requests name the student: only a payload goes off-site
                watch.marked.append(url)
            route_.abort("blockedbyclient")
        else:
            route_.continue_()

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_FLAGS, service_workers="block")
        context.route("**/*", route)
        context.set_default_timeout(30_000)
        context.on("page", lambda page: page.on("dialog", lambda d: (watch.dialogs.append(d.message), d.dismiss())))
        yield context, watch
        context.close()


# Every attribute holding the marker that a browser runs or loads: a handler, a style, a URL that is not
# a plain link on this machine. (Learner text may stand elsewhere as text: a textarea's placeholder, a
# table's sort key set by jQuery, the path of a link to the formgrader's page for that student.)
MARKED_ATTRIBUTES = """(mark) => [...document.querySelectorAll('*')].flatMap(el => [...el.attributes]
    .filter(a => a.value.includes(mark) && (a.name.startsWith('on') || ['srcdoc', 'style', 'data', 'background',
        'poster', 'formaction', 'action', 'xlink:href'].includes(a.name) || (['href', 'src'].includes(a.name)
        && !(/^https?:$/.test(new URL(a.value, location.href).protocol)
             && ['127.0.0.1', 'localhost'].includes(new URL(a.value, location.href).hostname)))))
    .map(a => `<${el.tagName.toLowerCase()} ${a.name}="${a.value.slice(0, 80)}">`))"""


def visit(browser, url):
    """Open a page, let it settle, and return what a payload would have changed."""
    context, watch = browser
    page = context.new_page()
    try:
        page.goto(url, wait_until="load")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)  # onerror and onload handlers of images that failed
        return {"pwned": page.evaluate("window.gruPwned || null"),
                "attributes": page.evaluate(MARKED_ATTRIBUTES, MARK),
                "text": page.evaluate("document.body.innerText"),
                "placeholders": page.evaluate("[...document.querySelectorAll('textarea')].map(t => t.placeholder)")}
    finally:
        page.close()


def harmless(seen, watch, where):
    assert seen["pwned"] is None, f"{where}: a payload ran"
    assert not seen["attributes"], f"{where}: learner text in active attributes: {seen['attributes']}"
    assert not watch.dialogs, f"{where}: dialogs opened: {watch.dialogs}"
    assert not watch.marked, f"{where}: requests a payload made: {watch.marked}"


def test_the_hostile_submission_is_graded_and_flagged(graded):
    assert graded["review"], "the flagged lines did not flag the submission for review"
    for line in FLAGGED:
        assert any(line in c for c in graded["comments"]), (line, graded["comments"])


def test_hostile_folder_names_never_reach_the_gradebook(graded):
    assert graded["students"] == [STUDENT]
    assert graded["plain"].returncode != 0 and "cannot be a student id" in graded["plain"].stderr
    with open(graded["root"] / "reports" / ASSIGNMENT / "grades.csv") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert rows[f"'{FORMULA_ID}"]["status"] == "unreadable", rows.keys()  # no formula in a spreadsheet
    assert "cannot be a student id" in rows[HTML_ID]["notes"]


def test_feedback_shows_learner_text_as_text(graded, browser):
    page = graded["root"] / "feedback" / STUDENT / ASSIGNMENT / f"{ASSIGNMENT}.html"
    seen = visit(browser, page.as_uri())
    harmless(seen, browser[1], "feedback")
    assert not browser[1].offsite, f"feedback: requests off this machine: {browser[1].offsite}"
    assert all(line in seen["text"] for line in FLAGGED), "feedback: the learner's code does not read as text"
    assert FLAG_HEADER not in seen["text"], "feedback: the integrity scan's comment is the instructor's"
    for text in (HTML, BREAKOUT.splitlines()[1]):  # the markdown cell, the prints, the traceback
        assert seen["text"].count(text) >= 2, f"feedback: {text!r} is not shown as text"


def test_the_formgrader_shows_learner_text_as_text(graded, formgrader, browser):
    base, token = formgrader
    watch = browser[1]
    pages = ["formgrader", "formgrader/gradebook", f"formgrader/gradebook/{ASSIGNMENT}",
             f"formgrader/gradebook/{ASSIGNMENT}/{ASSIGNMENT}", f"formgrader/manage_submissions/{ASSIGNMENT}",
             "formgrader/manage_students", f"formgrader/manage_students/{STUDENT}",
             f"formgrader/manage_students/{STUDENT}/{ASSIGNMENT}", f"formgrader/submissions/{graded['notebook']}"]
    # nbgrader lists a submitted folder among the students, refused or not, with a link to its pages.
    hostile = [f"formgrader/manage_students/{quote(HTML_ID, safe='')}" + tail for tail in ("", f"/{ASSIGNMENT}")]
    for n, path in enumerate(pages + hostile):
        seen = visit(browser, f"{base}/{path}" + (f"?token={token}" if n == 0 else ""))
        harmless(seen, watch, path)
        if path in hostile:
            assert HTML_ID in seen["text"], f"{path}: the folder's name is not shown as text"
        else:
            formgrade = seen
    seen = formgrade
    # nbgrader's own pages load MathJax from its CDN (aborted here): nothing else leaves the machine.
    assert all(urlsplit(u).hostname == "cdnjs.cloudflare.com" for u in watch.offsite), watch.offsite
    for line in FLAGGED:
        assert any(line in p for p in seen["placeholders"]), "formgrader: the flag comment is not shown"
        assert line in seen["text"], "formgrader: the learner's code is not shown as text"
    assert HTML in seen["text"], "formgrader: the learner's prints and markdown are not shown as text"


def test_the_class_report_shows_learner_text_as_text(graded, browser):
    seen = visit(browser, (graded["root"] / "reports" / ASSIGNMENT / "report.html").as_uri())
    harmless(seen, browser[1], "class report")
    assert all(line in seen["text"] for line in FLAGGED), "class report: the flagged lines do not read as text"
    assert HTML_ID in seen["text"] and FORMULA_ID in seen["text"], "class report: the refused folders are not named"


def test_the_formgrader_lists_the_flagged_submission_as_flagged(graded, formgrader):
    """Its lists' flag column and its 'flagged' search read the submitted notebook's flag, which the
    integrity scan sets (gru_ref.grading.nbgrader_steps.FlagForReview)."""
    base, token = formgrader
    request = urllib.request.Request(f"{base}/formgrader/api/submitted_notebooks/{ASSIGNMENT}/{ASSIGNMENT}",
                                     headers={"Authorization": f"token {token}"})  # no cookie: the token each time
    with urllib.request.urlopen(request, timeout=30) as answer:
        listed = {n["student"]: n for n in json.load(answer)}
    assert listed[STUDENT]["flagged"] is True and listed[STUDENT]["needs_manual_grade"] is True
