"""Grade a whole class: `python -m gru_ref.grade ASSIGNMENT` at the course root.

1. Finds every submission (gru_ref.grading.collect): of the notebooks in a folder, the one with the
   work is graded, whatever its name ("name differs"), and the others are named; nothing in
   submitted/ is written (where nbgrader's own autograde records a learner, in a course with nbgrader
   hooks, the submission is staged in .gru_ref/ASSIGNMENT/staged/ for it).
   Links and special files are refused, never followed; notebooks over 32 MB are too large; a
   timestamp.txt that is no time, or in the future, is refused. Test cells the learner deleted,
   edited, duplicated or moved are put back as released (gru_ref.grading.restore_tests), and named.
2. Runs every notebook in the sandbox, judged outside it, in parallel on a Dask cluster: a local one
   of --workers processes (default: one per core), listening on loopback only, or the one at
   --scheduler tls://HOST:PORT with --tls-ca, --tls-cert and --tls-key (plain tcp:// on loopback
   only). Every worker is probed first: one that would grade without the sandbox is refused.
3. Records the grades in nbgrader's gradebook in bulk: nbgrader's own autograde steps, each result
   ready (nothing runs twice), for the whole class in one gradebook session (gradebook_bulk), so that
   `nbgrader export`, `generate_feedback` and the formgrader work as always.
4. Writes the class report: reports/ASSIGNMENT/grades.csv and reports/ASSIGNMENT/report.html.

Interrupted (Ctrl-C, a killed run)? Run the same command again: it goes on where it stopped. Ctrl-C
stops it in any phase within seconds (gru_ref.grading.interrupt), leaving no student `error`.
A submission is graded again only when it changed, or the source notebook, the checker (gru_ref's
code) or the grading limits did (gru_ref.grading.fingerprint); --force grades again regardless.
--student ID (repeatable) grades those learners only; the report still covers the class.
One class command at a time per course: a second one waits LOCK_WAIT_S, then refuses.
"""
import argparse
import contextlib
import fcntl
import json
import os
import sys
import time
import warnings
from pathlib import Path

import nbformat

from gru_ref.grading import (bwrap, collect, fingerprint, gradebook_bulk, interrupt, parallel, report,
                             restore_tests)
from gru_ref.grading.box import WARNING, unsandboxed
from gru_ref.grading.plan import PlanError, plan_notebook
from gru_ref.judge import secret


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
    parser.add_argument("--student", action="append", metavar="ID",
                        help="grade this learner only (submitted/ID/ASSIGNMENT); repeat it for several")
    parser.add_argument("--force", action="store_true",
                        help="grade again even what is unchanged since it was graded")
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
        return grade_class(args.assignment, root, args.workers, args.scheduler, tls, args.student, args.force)
    except (bwrap.SandboxUnavailable, PlanError, CourseError, parallel.ClusterError, secret.SecretError,
            collect.NoRelease) as exc:
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


def grade_class(assignment, root, workers, scheduler, tls=None, students=None, force=False):
    api, limits = _nbgrader(root)
    _check_course(api, root, assignment)
    if scheduler:
        parallel.check_reachable(scheduler)
    lock = course_lock(root, assignment)
    try:
        return _grade_class(api, limits, assignment, root, workers, scheduler, tls, students, force)
    finally:
        os.close(lock)


def _grade_class(api, limits, assignment, root, workers, scheduler, tls, students, force):
    if unsandboxed():
        print(WARNING, file=sys.stderr)
    else:
        bwrap.check_course_hidden(root)  # here, where the workers of a local cluster run too
        if not scheduler:
            bwrap.check()
    state_folder = root / ".gru_ref" / assignment
    results_folder = state_folder / "results"
    results_folder.mkdir(parents=True, exist_ok=True)
    api.config.SandboxedExecute.results_folder = str(results_folder)
    submissions = collect.collect(root, assignment)
    chosen = _chosen(submissions, students, assignment)
    print(f"{assignment}: {len(submissions)} submission folder(s)"
          + (f", grading {len(chosen)} of them (--student)." if students else "."), file=sys.stderr)
    for submission in submissions:  # one line per folder that needs a look, before anything runs
        if submission.student in chosen and (submission.status != "graded" or submission.notes):
            print(f"  {collect.shown(submission.student)} ({submission.status}): {'; '.join(submission.notes)}",
                  file=sys.stderr)
    context = fingerprint.context(fingerprint.source_folder(api.coursedir, assignment), limits)
    name = Path(collect.released_names(root, assignment)[0]).stem  # the notebook's id in the gradebook
    keys = _prepare(api, assignment, name, submissions, context, root)
    jobs = {key: (nb, cases) for student, (key, nb, cases) in keys.items() if student in chosen}
    if force:  # run again: the results of the chosen go
        for key in jobs:
            with contextlib.suppress(FileNotFoundError):
                os.remove(parallel.result_path(results_folder, key))
    todo = sum(not parallel.done(results_folder, k) for k in jobs)
    where = scheduler or f"{workers} local worker(s)"
    print(f"Running {todo} notebook(s) in the sandbox on {where} ({len(jobs) - todo} already done).",
          file=sys.stderr)
    started = time.monotonic()
    parallel.grade_all(jobs, results_folder, limits, workers, scheduler, parallel.ProgressBar(todo), tls)
    ran = time.monotonic()
    _record(api, assignment, name, submissions, keys, chosen, force, results_folder, state_folder / "recorded.json")
    recorded = time.monotonic()
    out = root / "reports" / assignment
    report.write(out, assignment, submissions, keys, results_folder, api.coursedir.db_url)
    counts = {s: sum(sub.status == s for sub in submissions) for s in collect.STATUSES}
    print("  " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
          + f" ({ran - started:.1f} s in the sandbox, workers starting included; {recorded - ran:.1f} s recording)",
          file=sys.stderr)
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


def _chosen(submissions, students, assignment):
    """The students to grade: all, or those named by --student (each must have a folder)."""
    everyone = {s.student for s in submissions}
    if not students:
        return everyone
    unknown = sorted(set(students) - everyone)
    if unknown:
        raise CourseError(f"no submission folder submitted/{collect.shown(unknown[0])}/{assignment}/ "
                          f"for --student {collect.shown(unknown[0])}: check the id (the folder's name).")
    return set(students)


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


def _prepare(api, assignment, name, submissions, context, root):
    """{student: (key, notebook JSON, keys of the cases)} of what nbgrader's autograde will see of each
    notebook: the submission after nbgrader's own sanitising steps and RestoreTestCells (the released
    test cells put back where the learner deleted, edited, duplicated or moved them: noted), under the key
    of its result (gru_ref.grading.fingerprint: the learner, the notebook, the context, the cases), with
    the learner's keys of the cases (gru_ref.judge.secret: hidden cases of their own)."""
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
    course_secret = secret.course_secret(root)  # once a run, not once a learner
    with gradebook_bulk.one_gradebook(api.coursedir.db_url, api.coursedir.course_id):  # read only
        for submission in submissions:
            if submission.status != "graded":
                continue
            nb = collect.read_notebook(submission.notebook)  # bounded, never through a link
            resources = {"nbgrader": {"db_url": api.coursedir.db_url, "assignment": assignment,
                                      "notebook": name, "student": submission.student}}
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
            cases = secret.keys_of(course_secret, assignment, submission.student)
            keys[submission.student] = (fingerprint.key(submission.student, nb, context, cases),
                                        nbformat.writes(nb), cases)
    return keys


def _record(api, assignment, name, submissions, keys, chosen, force, results_folder, state_path):
    """Records in nbgrader's gradebook, in bulk, each chosen student not yet recorded under this key
    (every chosen one with force); a student not chosen and not recorded under its key is noted."""
    recorded = json.loads(state_path.read_text()) if state_path.exists() else {}
    stale = [s for s in submissions if s.student in keys and (recorded.get(s.student) != keys[s.student][0]
                                                               or (force and s.student in chosen))]
    for submission in stale:
        if submission.student not in chosen:
            submission.notes.append("not graded in this run (--student): its grade in nbgrader, if any, "
                                    "is from an earlier one")
            if submission.student in recorded:  # the report shows the result that nbgrader holds
                keys[submission.student] = (recorded[submission.student],) + keys[submission.student][1:]
    pending = []
    for submission in (s for s in stale if s.student in chosen):
        result = json.loads(Path(parallel.result_path(results_folder, keys[submission.student][0])).read_text())
        if "grader_error" in result:
            submission.status = "error"
            submission.notes.append(result["grader_error"])
        else:
            pending.append(submission)
    print(f"Recording {len(pending)} grade(s) in nbgrader's gradebook.", file=sys.stderr)
    done = []

    def recorded_one(student):
        recorded[student] = keys[student][0]
        done.append(student)
        if len(done) % 25 == 0 or len(done) == len(pending) or stop.hit:  # kept now and then, at the end
            _save(state_path, recorded)
        sys.stderr.write(f"\r  {len(done)}/{len(pending)} recorded ")
        stop.check()  # Ctrl-C: between two students, once this one's record is kept
    with interrupt.Deferred() as stop:  # nbgrader's steps would swallow Ctrl-C: it waits for the student
        failed = gradebook_bulk.record(api, assignment, [(s.student, name, keys[s.student][1]) for s in pending],
                                       recorded_one, {s.student: s for s in pending})
    _save(state_path, recorded)
    if pending:
        sys.stderr.write("\n")
    for submission in pending:
        if submission.student in failed:
            submission.status = "error"
            submission.notes.append("nbgrader's autograde failed: " + failed[submission.student])
    for submission in submissions:
        path = Path(parallel.result_path(results_folder, keys[submission.student][0])) \
            if submission.student in keys else None
        if path and path.exists() and submission.status == "graded":
            result = json.loads(path.read_text())
            if result.get("too_large"):  # recorded in nbgrader (every test failed, saying why); not graded
                submission.status = "too large"
                submission.notes.append(f"not graded: too large ({result['too_large']})")
            elif result.get("flags"):
                submission.status = "flagged"


def _save(path, recorded):
    path.with_suffix(".part").write_text(json.dumps(recorded, indent=1))
    os.replace(path.with_suffix(".part"), path)


if __name__ == "__main__":
    sys.exit(main())
