"""Grade a whole class: `python -m gru_ref.grade ASSIGNMENT` at the course root.

1. Finds every submission (gru_ref.grading.collect): of the notebooks in a folder, the one with the
   work is graded, whatever its name ("name differs"), and the others are named; nothing in
   submitted/ is written (a notebook under another name is staged in .gru_ref/ for nbgrader).
   Links and special files are refused, never followed; notebooks over 32 MB are too large; a
   timestamp.txt that is no time, or in the future, is refused. Test cells the learner deleted,
   edited, duplicated or moved are put back as released (gru_ref.grading.restore_tests), and named.
2. Runs every notebook in the sandbox, judged outside it, in parallel on a Dask cluster: a local one
   of --workers processes (default: one per core), listening on loopback only, or the one at
   --scheduler tls://HOST:PORT with --tls-ca, --tls-cert and --tls-key (plain tcp:// on loopback
   only). Every worker is probed first: one that would grade without the sandbox is refused.
3. Records the grades with nbgrader's own autograde, one student at a time, which finds each result
   ready (nothing runs twice), so that `nbgrader export`, `generate_feedback` and the formgrader work
   as always.
4. Writes the class report: reports/ASSIGNMENT/grades.csv and reports/ASSIGNMENT/report.html.

Interrupted (Ctrl-C, a killed run)? Run the same command again: it goes on where it stopped. Ctrl-C
stops it in any phase within seconds (gru_ref.grading.interrupt), leaving no student `error`.
One class command at a time per course: a second one waits LOCK_WAIT_S, then refuses.
"""
import argparse
import fcntl
import json
import os
import sys
import time
import warnings
from pathlib import Path

import nbformat

from gru_ref.grading import bwrap, collect, interrupt, parallel, pick_notebook, report, restore_tests
from gru_ref.grading.box import WARNING, unsandboxed
from gru_ref.grading.nbgrader_steps import fingerprint
from gru_ref.grading.plan import PlanError, plan_notebook


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="sandboxes run at once on this machine (default: one per core)")
    parser.add_argument("--scheduler", help="a Dask scheduler, tls://HOST:PORT (tcp:// on this machine's "
                                            "loopback only), whose workers have this course's environment "
                                            "and bubblewrap")
    parser.add_argument("--tls-ca", help="with a tls:// scheduler: the CA certificate (PEM) of the cluster")
    parser.add_argument("--tls-cert", help="with a tls:// scheduler: this client's certificate (PEM)")
    parser.add_argument("--tls-key", help="with a tls:// scheduler: this client's private key (PEM)")
    parser.add_argument("--root", default=".", help="the course root, where nbgrader_config.py is")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    try:
        given = [os.path.abspath(p) if p else None for p in (args.tls_ca, args.tls_cert, args.tls_key)]  # before cd
        tls = parallel.security(args.scheduler, *given) if args.scheduler else None
    except parallel.ClusterError as exc:
        print(f"\nCannot grade: {exc}", file=sys.stderr)
        return 2
    os.chdir(root)
    from sqlalchemy.exc import SAWarning
    warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's own, on every autograde
    try:
        return grade_class(args.assignment, root, args.workers, args.scheduler, tls)
    except (bwrap.SandboxUnavailable, PlanError, CourseError, parallel.ClusterError, collect.NoRelease) as exc:
        print(f"\nCannot grade: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{interrupt.STOPPED}", file=sys.stderr)
        interrupt.stop_now(130)


class CourseError(Exception):
    pass


LOCK_WAIT_S = 5


def course_lock(root, assignment):
    """The descriptor of .gru_ref/grading.lock, locked (fcntl: released when it is closed or this process
    ends, however it ends): two class commands on one course would record grades over each other."""
    folder = root / ".gru_ref"
    folder.mkdir(exist_ok=True)
    fd = os.open(folder / "grading.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise CourseError(f"another class command is grading this course ({holder}): let it finish, "
                                  f"then run this one again.") from None
            time.sleep(0.2)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}, assignment {assignment}".encode(), 0)
    return fd


def grade_class(assignment, root, workers, scheduler, tls=None):
    api, limits = _nbgrader(root)
    _check_course(api, root, assignment)
    if scheduler:
        parallel.check_reachable(scheduler)
    lock = course_lock(root, assignment)
    try:
        return _grade_class(api, limits, assignment, root, workers, scheduler, tls)
    finally:
        os.close(lock)


def _grade_class(api, limits, assignment, root, workers, scheduler, tls):
    if unsandboxed():
        print(WARNING, file=sys.stderr)
    elif not scheduler:
        bwrap.check()
    state_folder = root / ".gru_ref" / assignment
    results_folder = state_folder / "results"
    results_folder.mkdir(parents=True, exist_ok=True)
    api.config.SandboxedExecute.results_folder = str(results_folder)
    submissions = collect.collect(root, assignment)
    print(f"{assignment}: {len(submissions)} submission folder(s).", file=sys.stderr)
    keys = _prepare(api, assignment, submissions)
    jobs = {key: nb for key, nb in keys.values()}
    todo = sum(not parallel.done(results_folder, k) for k in jobs)
    where = scheduler or f"{workers} local worker(s)"
    print(f"Running {todo} notebook(s) in the sandbox on {where} ({len(jobs) - todo} already done).",
          file=sys.stderr)
    parallel.grade_all(jobs, results_folder, limits, workers, scheduler, parallel.ProgressBar(todo), tls)
    _record(api, assignment, submissions, keys, results_folder, state_folder / "recorded.json")
    out = root / "reports" / assignment
    report.write(out, assignment, submissions, keys, results_folder, api.coursedir.db_url)
    counts = {s: sum(sub.status == s for sub in submissions) for s in collect.STATUSES}
    print("  " + ", ".join(f"{n} {s}" for s, n in counts.items() if n), file=sys.stderr)
    print(f"Class report: {out / 'report.html'}\nGrades: {out / 'grades.csv'}")
    return 0


def _nbgrader(root):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.apps.baseapp import NbGrader
    from nbgrader.coursedir import CourseDirectory
    if not (root / "nbgrader_config.py").exists():
        raise CourseError(f"no nbgrader_config.py in {root}: run this at the course root (or pass --root).")
    app = NbGrader()
    app.load_config_file()
    api = NbGraderAPI(coursedir=CourseDirectory(config=app.config), config=app.config)
    limits = dict(app.config.SandboxedExecute.get("limits", {}))
    return api, limits


def _check_course(api, root, assignment):
    """CourseError, with what to do, for an assignment or a gradebook that is not there (before
    anything is written: nbgrader would make an empty gradebook)."""
    url = api.coursedir.db_url
    if url.startswith("sqlite:///") and not os.path.exists(url[len("sqlite:///"):]):
        raise CourseError(f"no gradebook at {url[len('sqlite:///'):]}: run `nbgrader generate_assignment "
                          f"{assignment}` at the course root first (it makes the gradebook), or set "
                          f"CourseDirectory.db_url in nbgrader_config.py.")
    if not (root / "exercises" / assignment).is_dir():
        known = sorted(p.name for p in (root / "exercises").iterdir() if p.is_dir()) \
            if (root / "exercises").is_dir() else []
        raise CourseError(f"no assignment '{collect.shown(assignment, 40)}' in this course (no exercises/"
                          f"{collect.shown(assignment, 40)}/; released: {', '.join(known) or 'none'}): check the "
                          f"name, or run `nbgrader generate_assignment NAME` for a new one.")


def _prepare(api, assignment, submissions):
    """{student: (fingerprint, notebook JSON)} of what nbgrader's autograde will see of each
    notebook: the submission after nbgrader's own sanitising steps and RestoreTestCells (the released
    test cells put back where the learner deleted, edited, duplicated or moved them: noted)."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.converters import Autograde
    with Gradebook(api.coursedir.db_url) as gradebook:
        try:
            gradebook.find_assignment(assignment)
        except MissingEntry:
            raise CourseError(f"the gradebook has no assignment '{assignment}': run "
                              f"`nbgrader generate_assignment {assignment}` first.") from None
    steps = [cls(parent=api) for cls in restore_tests.with_restore(
        Autograde.class_traits()["sanitize_preprocessors"].default())]
    keys = {}
    for submission in submissions:
        if submission.status != "graded":
            continue
        nb = collect.read_notebook(submission.notebook)  # bounded, never through a link
        resources = {"nbgrader": {"db_url": api.coursedir.db_url, "assignment": assignment,
                                  "notebook": Path(submission.expected).stem, "student": submission.student}}
        try:
            for step in steps:
                nb, resources = step.preprocess(nb, resources)
        except Exception as exc:  # nbgrader's own checks refused it (cell metadata changed, say)
            submission.status = "unreadable"
            submission.notes.append(f"nbgrader cannot grade it: {str(exc).splitlines()[0][:200]}")
            continue
        restored = nb.metadata.get(restore_tests.RESTORED)
        if restored:
            submission.notes.append("test cells restored from the assignment: " + restore_tests.describe(restored))
        plan_notebook(nb)  # the instructor's test cells: a PlanError stops everything, clearly
        keys[submission.student] = (fingerprint(nb), nbformat.writes(nb))
    return keys


def _record(api, assignment, submissions, keys, results_folder, state_path):
    """nbgrader's autograde for each student not yet recorded with this very notebook."""
    recorded = json.loads(state_path.read_text()) if state_path.exists() else {}
    pending = [s for s in submissions if s.student in keys and recorded.get(s.student) != keys[s.student][0]]
    print(f"Recording {len(pending)} grade(s) in nbgrader's gradebook.", file=sys.stderr)
    with interrupt.Deferred() as stop:  # nbgrader's autograde would swallow Ctrl-C: between students
        for n, submission in enumerate(pending, 1):
            if _record_one(api, assignment, submission, keys[submission.student][0], results_folder):
                recorded[submission.student] = keys[submission.student][0]
                state_path.write_text(json.dumps(recorded, indent=1))
            sys.stderr.write(f"\r  {n}/{len(pending)} recorded ")
            stop.check()
    sys.stderr.write("\n")
    for submission in submissions:
        if submission.student in keys and submission.status == "graded":
            result = json.loads(Path(parallel.result_path(results_folder, keys[submission.student][0])).read_text())
            if result.get("too_large"):  # recorded in nbgrader (every test failed, saying why); not graded
                submission.status = "too large"
                submission.notes.append(f"not graded: too large ({result['too_large']})")
            elif result.get("flags"):
                submission.status = "flagged"


def _record_one(api, assignment, submission, key, results_folder):
    """nbgrader's autograde of one student, from the result ready for it; False if it failed."""
    result = json.loads(Path(parallel.result_path(results_folder, key)).read_text())
    if "grader_error" in result:
        submission.status = "error"
        submission.notes.append(result["grader_error"])
        return False
    submitted_directory = api.coursedir.submitted_directory
    if submission.notebook.name != submission.expected:  # graded under the released name: staged
        root = Path(api.coursedir.root)
        api.coursedir.submitted_directory = str(pick_notebook.stage(
            root / ".gru_ref" / assignment, submission, collect.read_bounded).relative_to(root))
    try:
        done = api.autograde(assignment, submission.student, force=True, create=True)
    finally:
        api.coursedir.submitted_directory = submitted_directory
    if not done["success"]:
        submission.status = "error"
        submission.notes.append("nbgrader's autograde failed: " + _last_error(done))
        return False
    return True


def _last_error(done):
    lines = [line for line in (done.get("log") or "").splitlines() if "ERROR" in line]
    return (lines[-1] if lines else (done.get("error") or "no log").strip().splitlines()[-1])[:300]


if __name__ == "__main__":
    sys.exit(main())
