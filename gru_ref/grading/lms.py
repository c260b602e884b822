"""Trusted: the way in from an LMS and the way back out, for Canvas and Moodle.

In:  `nbgrader zip_collect ASSIGNMENT` reads the LMS's download of the submissions (put the zip in
     downloaded/ASSIGNMENT/archive/); LmsFileNames, set in nbgrader_config.py, knows both layouts:
       Canvas  doejane_12345_6789012_gru.ipynb, doejane_LATE_12345_6789012_gru-1.ipynb
               (name, LATE_ if late, the Canvas user id, the submission id, the file as uploaded,
               -N when uploaded again: the newest is gru.ipynb, the others keep their -N)
       Moodle  Jane Doe_123456_assignsubmission_file_/gru.ipynb, or the same without the folder
               (full name, the participant id, the file)
     The student id is the LMS's number in the name: the roster (`roster`, below) uses the same one.
     The number is read where the LMS writes it, never from the part a learner chose (the name of
     the file they uploaded: `x_999_assignsubmission_file_gru.ipynb` is no way to hand in as 999).
     LmsZipExtractor, set there too, opens the LMS's zip only: never an archive a learner uploaded
     (it stays a file, and nothing in it is a submission of anyone's), never a member that is a
     link, an absolute path, or goes up with `..`; no more than MAX_MEMBERS files and MAX_EXTRACTED
     bytes (a zip bomb), files written with plain modes. What it skips, it says, one line each.
Roster: `python -m gru_ref.grading.lms roster canvas|moodle EXPORT.csv` turns the LMS's own export (Canvas:
     the gradebook's "Export"; Moodle: the assignment's "Download grading worksheet") into
     reports/roster.csv, which `nbgrader db student import reports/roster.csv` reads.
Out: `python -m gru_ref.grading.lms upload canvas|moodle ASSIGNMENT EXPORT.csv` writes
     reports/ASSIGNMENT/canvas.csv or moodle.csv from that same export, with nbgrader's scores
     (late penalty applied): Canvas's columns Student, ID, SIS User ID, SIS Login ID, Section and the
     assignment's column; Moodle's worksheet with its Grade column filled.

One rule in every CSV (these two, reports/ASSIGNMENT/grades.csv and `nbgrader export`, whose plugin is
CsvExport below): a learner whose submission nbgrader has no record of (no folder, an unreadable,
refused or failed notebook, or a roster name that never submitted) gets a blank score, never a 0. A
blank changes nothing in Canvas or Moodle; a 0 is for the instructor to give.
"""
import argparse
import csv
import os
import re
import shutil
import stat
import sys
import zipfile
from pathlib import Path, PurePosixPath

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import CsvExportPlugin, ExtractorPlugin, FileNameCollectorPlugin

from gru_ref.grading.learner_text import spreadsheet_cell, visible

# Matched against the whole path of each extracted file (nbgrader's zip_collect does so). The LMS's part
# is the first match in the file's name (lazy), or Moodle's folder (ending in /): what follows it is the
# learner's file name, which may itself look like an LMS name. LMS numbers are ASCII digits.
CANVAS_FILES = re.compile(r".*/[^/]+?_(?:LATE_)?(?P<student_id>[0-9]+)_(?P<submission>[0-9]+)_"
                          r"(?P<file_id>[^/]+?)(?:-(?P<again>[0-9]+))?\.ipynb$")
MOODLE_FOLDERS = re.compile(r".*/[^/]+_(?P<student_id>[0-9]+)_assignsubmission_file_/(?P<file_id>[^/]+)\.ipynb$")
MOODLE_FILES = re.compile(r".*/[^/]+?_(?P<student_id>[0-9]+)_assignsubmission_file_(?P<file_id>[^/]+)\.ipynb$")


class LmsFileNames(FileNameCollectorPlugin):
    """nbgrader's file-name collector with Canvas's and Moodle's download layouts built in."""

    def _match(self, filename):
        for pattern in (MOODLE_FOLDERS, MOODLE_FILES):  # Moodle's names are the more specific
            found = pattern.match(filename)
            if found:
                return found.groupdict()
        found = CANVAS_FILES.match(filename)
        if found:
            return {"student_id": found["student_id"], "file_id": self._canvas_file_id(filename, found)}
        self.log.warning("Not a Canvas or Moodle submission file name, skipped: %s", visible(filename))
        return None

    def _canvas_file_id(self, filename, found):
        """The file as uploaded, for the newest of a learner's uploads under that name (Canvas adds -N to
        a name uploaded again, and each submission has its number). An older one keeps its -N and
        number: nbgrader would stop the whole collection at two files of one name and no time to
        choose by; the class command grades the one with the work and names the others."""
        def newest_first(match):
            return int(match["submission"]), int(match["again"] or 0)
        folder = os.path.dirname(filename)
        try:
            names = os.listdir(folder)
        except OSError:
            names = []
        same = [m for m in (CANVAS_FILES.match(os.path.join(folder, n)) for n in names)
                if m and m["student_id"] == found["student_id"] and m["file_id"] == found["file_id"]]
        if newest_first(found) >= max(map(newest_first, same), default=(0, 0)):
            return found["file_id"]
        return f"{found['file_id']}-{found['again'] or 0}_{found['submission']}"


MAX_MEMBERS = 20_000  # files in one LMS download: a class of hundreds, a few files each
MAX_EXTRACTED = 4 << 30  # bytes out of one download: far above hundreds of notebooks (32 MB at most each)
CHUNK = 1 << 20


class LmsZipExtractor(ExtractorPlugin):
    """nbgrader's extractor, for an LMS's download: each zip in archive/ into a folder of its name, each
    other file copied; nothing inside a zip is opened as an archive (see the module's docstring)."""

    def extract(self, archive_path, extracted_path):
        for folder, _, files in os.walk(archive_path):
            into = Path(extracted_path) / Path(folder).relative_to(archive_path)
            for name in sorted(files):
                path = Path(folder) / name
                if not path.is_file() or path.is_symlink():
                    self.log.warning("Not a plain file, skipped: %s", visible(path))
                elif path.suffix == ".zip":
                    self.log.info("Extracting from: %s", visible(path))
                    self.unzip(path, into / path.stem)
                else:
                    into.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, into / name)

    def unzip(self, path, into):
        try:
            with zipfile.ZipFile(path) as download:
                members = download.infolist()
                if len(members) > MAX_MEMBERS:
                    raise LmsError(f"it holds {len(members)} files, more than {MAX_MEMBERS}")
                if sum(m.file_size for m in members) > MAX_EXTRACTED:
                    raise LmsError(f"it would unpack to more than {MAX_EXTRACTED >> 20} MB (a zip bomb?)")
                written = set()
                for member in members:
                    target = self._target(member, into, written)
                    if target is None:
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with download.open(member) as src, open(target, "xb") as out:  # never over a file
                        shutil.copyfileobj(src, out, CHUNK)
                    written.add(target)
        except (LmsError, zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            shutil.rmtree(into, ignore_errors=True)  # nothing of it half there, to be collected
            self.log.error("Cannot extract %s (%s): download it from the LMS again, or unpack it yourself "
                           "into %s", visible(path), visible(exc), visible(into))

    def _target(self, member, into, written):
        """Where a member goes, or None (said) for a folder, a link, or a name that is not a plain path
        inside `into`."""
        name = member.filename
        if name.endswith("/"):
            return None
        parts = PurePosixPath(name).parts
        kind = stat.S_IFMT(member.external_attr >> 16)
        why = ("a link" if kind == stat.S_IFLNK else "not a plain file" if kind not in (0, stat.S_IFREG)
               else "not a relative path inside the download" if name.startswith("/") or "\\" in name
               or ".." in parts or not parts or not all(c.isprintable() for c in name)
               else None)
        target = into.joinpath(*parts) if why is None else None
        if target is not None and target in written:
            why = "a second file of that name"
        if why:
            self.log.warning("Skipped %s in the download: %s", visible(name), why)
            return None
        return target


class CsvExport(CsvExportPlugin):
    """`nbgrader export`'s CSV with nbgrader's columns, written by the csv module (a name with a comma
    or a formula stays one cell, as text), and the rule above: no submission, no score (blank)."""

    COLUMNS = ("assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
               "raw_score", "late_submission_penalty", "score", "max_score")

    def export(self, gradebook):
        with open(self.to or "grades.csv", "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(self.COLUMNS)
            for assignment in gradebook.assignments:
                if self.assignment and assignment.name not in map(str, self.assignment):
                    continue
                for student in gradebook.students:
                    if self.student and student.id not in map(str, self.student):
                        continue
                    scored = scores(gradebook, assignment.name, student.id)
                    row = {"assignment": assignment.name, "duedate": assignment.duedate, "student_id": student.id,
                           "last_name": student.last_name, "first_name": student.first_name, "email": student.email,
                           "max_score": assignment.max_score, **scored}
                    out.writerow([spreadsheet_cell("" if row.get(k) is None else str(row[k])) for k in self.COLUMNS])


def scores(gradebook, assignment, student):
    """nbgrader's record of one submission: raw score, late penalty, score; blank ('') without one."""
    try:
        submission = gradebook.find_submission(assignment, student)
    except MissingEntry:
        return {"timestamp": "", "raw_score": "", "late_submission_penalty": "", "score": ""}
    penalty = submission.late_submission_penalty or 0.0
    return {"timestamp": submission.timestamp, "raw_score": submission.score, "late_submission_penalty": penalty,
            "score": max(0.0, submission.score - penalty)}


class LmsError(Exception):
    """One line: what is wrong with the LMS's file, and what to do."""


def read_export(path):
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LmsError(f"cannot read {path}: {exc}. Give the CSV the LMS exported, unchanged.") from None


def _need(rows, path, *columns):
    have = rows[0].keys() if rows else ()
    missing = [c for c in columns if c not in have]
    if missing:
        raise LmsError(f"{path} has no column {', '.join(missing)}: give the LMS's own export (Canvas: the "
                       f"gradebook's Export; Moodle: the assignment's Download grading worksheet).")


def _canvas_students(rows):
    """Canvas's export has a "Points Possible" row (and a muted-assignments row) before the students."""
    return [r for r in rows if re.fullmatch(r"[0-9]+", (r.get("ID") or "").strip())]  # ASCII: "²".isdigit()


def _moodle_id(identifier):
    found = re.fullmatch(r"[^0-9]*([0-9]+)", (identifier or "").strip())  # "Participant 123456"
    return found.group(1) if found else None


def roster(lms, path):
    """nbgrader's roster (id, first_name, last_name, email) from the LMS's export."""
    rows = read_export(path)
    out = []
    if lms == "canvas":
        _need(rows, path, "Student", "ID")
        for r in _canvas_students(rows):
            last, _, first = r["Student"].partition(", ")  # "Doe, Jane"
            out.append({"id": r["ID"].strip(), "first_name": first.strip(), "last_name": last.strip(),
                        "email": (r.get("SIS Login ID") or "").strip() if "@" in (r.get("SIS Login ID") or "") else ""})
    else:
        _need(rows, path, "Identifier", "Full name")
        for r in rows:
            if _moodle_id(r["Identifier"]):
                first, _, last = r["Full name"].strip().partition(" ")
                out.append({"id": _moodle_id(r["Identifier"]), "first_name": first, "last_name": last,
                            "email": (r.get("Email address") or "").strip()})
    return out


def upload(lms, assignment, path, db_url, column=None):
    """(header, rows) of the CSV to upload, from the LMS's export and nbgrader's gradebook."""
    rows = read_export(path)
    with Gradebook(db_url) as gradebook:
        try:
            gradebook.find_assignment(assignment)
        except MissingEntry:
            raise LmsError(f"the gradebook has no assignment '{assignment}': grade it first "
                           f"(python -m gru_ref.grade {assignment}).") from None
        if lms == "canvas":
            _need(rows, path, "Student", "ID")
            column = column or next((c for c in rows[0] if c.startswith(f"{assignment} (")), assignment)
            header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column]
            out = [[r.get(c, "") for c in header[:5]] + [_score(gradebook, assignment, r["ID"].strip())]
                   for r in _canvas_students(rows)]
        else:
            _need(rows, path, "Identifier", "Grade")
            header = list(rows[0])
            out = [[_score(gradebook, assignment, _moodle_id(r["Identifier"])) if c == "Grade" else r[c]
                    for c in header] for r in rows if _moodle_id(r["Identifier"])]
    return header, [[spreadsheet_cell(v) for v in row] for row in out]


def _score(gradebook, assignment, student):
    score = scores(gradebook, assignment, student)["score"] if student else ""
    return "" if score == "" else f"{score:g}"


def write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gru_ref.grading.lms", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = parser.add_subparsers(dest="step", required=True)
    to_roster = steps.add_parser("roster", help="the LMS's export -> reports/roster.csv for nbgrader db student import")
    to_roster.add_argument("lms", choices=("canvas", "moodle"))
    to_roster.add_argument("export")
    to_roster.add_argument("-o", "--out", default="reports/roster.csv")
    to_lms = steps.add_parser("upload", help="nbgrader's scores -> reports/ASSIGNMENT/LMS.csv to upload")
    to_lms.add_argument("lms", choices=("canvas", "moodle"))
    to_lms.add_argument("assignment")
    to_lms.add_argument("export")
    to_lms.add_argument("--column", help="Canvas: the assignment's column, as in the export (default: the one "
                                         "named 'ASSIGNMENT (number)', else ASSIGNMENT)")
    to_lms.add_argument("-o", "--out", help="default: reports/ASSIGNMENT/LMS.csv")
    to_lms.add_argument("--db", default="sqlite:///gradebook.db", help="nbgrader's gradebook (run at the course root)")
    args = parser.parse_args(argv)
    try:
        if args.step == "roster":
            people = roster(args.lms, args.export)
            write_csv(Path(args.out), ["id", "first_name", "last_name", "email"],
                      [[spreadsheet_cell(p[k]) for k in ("id", "first_name", "last_name", "email")] for p in people])
            print(f"{len(people)} learner(s) -> {args.out}; next: nbgrader db student import {args.out}")
        else:
            if args.db.startswith("sqlite:///") and not Path(args.db.removeprefix("sqlite:///")).exists():
                raise LmsError(f"no gradebook at {args.db.removeprefix('sqlite:///')}: run this at the course root.")
            header, rows = upload(args.lms, args.assignment, args.export, args.db, args.column)
            out = Path(args.out or f"reports/{args.assignment}/{args.lms}.csv")
            write_csv(out, header, rows)
            scored = header.index("Grade") if args.lms == "moodle" else len(header) - 1
            blank = sum(row[scored] == "" for row in rows)
            print(f"{len(rows)} learner(s), {blank} without a submission nbgrader recorded (left blank) -> {out}")
    except LmsError as exc:
        print(f"Cannot write it: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
