"""Trusted: the class report, from nbgrader's gradebook and the grading results.

grades.csv: one row per submission folder, with a status (graded, flagged, unreadable, missing,
error), the score (nbgrader's late penalty taken off, with a note that says so), and a column per test cell (blank where nothing was graded, never a 0 that
means "not graded"). report.html: one offline page (charts as inline SVG): the score histogram,
the pass rate per test cell, the diagnosed mistakes by frequency, the mistake groups of each failing
test cell and a view of each learner (gru_ref.grading.mistake_groups), the integrity flags with their
lines, the scores a grader changed in the formgrader (both numbers), and the submissions that were not
graded, with the reason. Beside them, mistake_groups.json and comments.yml, the template of one comment
per group (gru_ref.grading.comments).
"""
import csv
import json
import statistics
from collections import Counter
from pathlib import Path

from gru_ref.grading import comments, mistake_groups
from gru_ref.grading.learner_text import html_text, spreadsheet_cell
from gru_ref.grading.parallel import result_path
from gru_ref.judge.diagnosis_names import name_of, prose


BLANK_RULE = ("A learner without a submission nbgrader recorded has a blank score, never 0, in grades.csv, in "
              "nbgrader export's grades.csv and in the Canvas and Moodle files (python -m gru_ref.grading.lms): "
              "a blank changes nothing in the LMS; give a 0 yourself where it is due. A notebook too large to "
              "grade keeps its recorded 0.")


def diagnosis(message):
    """What the report calls the diagnosis a failing message states (gru_ref.judge.diagnosis_names)."""
    from gru_ref.assignments import TASKS
    from gru_ref.reference.shapes_mistakes import SHAPE_MISTAKES
    known = [m for task in TASKS.values() for m in getattr(task, "mistakes", ())] + list(SHAPE_MISTAKES)
    return prose(name_of(message, known))


def gradebook_rows(db_url, assignment):
    """{student: {"score", "max_score", "cells": {grade_id: score}}} of the autograded submissions,
    and {grade_id: full points} of the assignment's graded cells."""
    from nbgrader.api import Gradebook
    rows = {}
    with Gradebook(db_url) as gradebook:
        for submission in gradebook.assignment_submissions(assignment):
            # A written answer (a markdown grade cell) waits for a person: blank until then, not 0.
            by_hand = {grade.name for nb in submission.notebooks for grade in nb.grades
                       if grade.cell.cell_type == "markdown" and grade.manual_score is None}
            cells = {grade.name: None if grade.name in by_hand else grade.score
                     for nb in submission.notebooks for grade in nb.grades}
            # A grader's score in the formgrader over the autograder's: {cell: (automatic, theirs)}.
            overrides = {grade.name: (grade.auto_score, grade.manual_score) for nb in submission.notebooks
                         for grade in nb.grades if grade.manual_score is not None and grade.auto_score is not None
                         and grade.manual_score != grade.auto_score}
            # nbgrader's late penalty (its LateSubmissionPlugin, from the due date and timestamp.txt) is taken
            # off the score, as `nbgrader export` and the LMS files take it; the cells keep their own scores.
            penalty = submission.late_submission_penalty or 0.0
            rows[submission.student.id] = {"score": max(0.0, submission.score - penalty),
                                           "max_score": submission.max_score, "cells": cells, "waiting": by_hand,
                                           "overrides": overrides, "late": _late(submission, penalty)}
        test_cells = {c.name: c.max_score for nb in gradebook.find_assignment(assignment).notebooks
                      for c in nb.grade_cells}
    return rows, test_cells


def _late(submission, penalty):
    """The note on a late submission (None when on time): when, the due date, the points taken off."""
    if not submission.timestamp or not submission.duedate or submission.timestamp <= submission.duedate:
        return None
    when, due = (f"{t:%Y-%m-%d %H:%M:%S} UTC" for t in (submission.timestamp, submission.duedate))
    return (f"late: submitted {when}, due {due}; nbgrader's late penalty {penalty:g} point(s) taken off the "
            f"score (c.LateSubmissionPlugin.penalty_method in nbgrader_config.py)")


def write(folder, assignment, submissions, keys, results_folder, db_url):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows, test_cells = gradebook_rows(db_url, assignment)
    for s in submissions:  # why a late learner's score is below its test cells' sum
        late = rows.get(s.student, {}).get("late")
        if late and _graded(s) and late not in s.notes:
            s.notes.append(late)
    results = {}
    for submission in submissions:
        if submission.student in keys:
            path = Path(result_path(results_folder, keys[submission.student][0]))
            if path.exists():
                results[submission.student] = json.loads(path.read_text())
    _write_csv(folder / "grades.csv", submissions, rows, test_cells, results)
    graded = [s.student for s in submissions if _graded(s) and s.student in rows]
    found, where = mistake_groups.groups(graded, results)
    mistake_groups.write_json(folder, assignment, found, mistake_groups.signatures(graded, results))
    comments.write_template(folder, assignment, found)
    (folder / "report.html").write_text(_html(assignment, submissions, rows, test_cells, results, found, where))


def _graded(submission):
    return submission.status in ("graded", "flagged")


def _write_csv(path, submissions, rows, test_cells, results):
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["student_id", "status", "score", "max_score", *test_cells, "flags", "notes"])
        for s in submissions:  # a score where nbgrader recorded one (too large: its 0), else blank (gru_ref.grading.lms)
            row = rows.get(s.student) if _graded(s) or s.status == "too large" else None
            cells = [row["cells"].get(c, "") if row else "" for c in test_cells]
            flags = len(results.get(s.student, {}).get("flags", [])) if row else ""
            out.writerow([spreadsheet_cell(v) for v in (
                s.student, s.status, row["score"] if row else "", row["max_score"] if row else "",
                *cells, flags, "; ".join(s.notes))])


def _html(assignment, submissions, rows, test_cells, results, found=None, where=None):
    graded = [s for s in submissions if _graded(s) and s.student in rows]
    scores = [rows[s.student]["score"] for s in graded]
    top = max((rows[s.student]["max_score"] for s in graded), default=0)
    passes = {c: sum(rows[s.student]["cells"].get(c) == full for s in graded) for c, full in test_cells.items()}
    mistakes = Counter()  # how many submissions show each mistake (once each, however many tests fail)
    for s in graded:
        verdicts = results.get(s.student, {}).get("tests", {}).values()
        mistakes.update({prose(mistake_groups.diagnosis(v)) for v in verdicts if not v["passed"]})
    flagged = [(s.student, flag) for s in graded for flag in results.get(s.student, {}).get("flags", [])]
    by_hand = {c: sum(c in rows[s.student].get("waiting", ()) for s in graded) for c in test_cells
               if any(c in rows[s.student].get("waiting", ()) for s in graded)}
    ungraded = [s for s in submissions if not _graded(s)]
    e = html_text
    summary = (f"{len(submissions)} submission folder(s): {len(graded)} graded "
               f"({sum(s.status == 'flagged' for s in graded)} flagged for review), {len(ungraded)} not graded.")
    if scores:
        summary += f" Mean score {statistics.mean(scores):.2f} / {top:g}, median {statistics.median(scores):g}."
    parts = [f"<h1>Class report: {e(assignment)}</h1><p>{e(summary)}</p>",
             "<h2>Scores</h2>", _histogram(scores, top),
             "<h2>Pass rate per test cell</h2>",
             _bars([(c, passes[c], len(graded)) for c in test_cells if c not in by_hand], percent=True),
             *(f"<p>{e(c)}: graded by hand: {n} of {len(graded)} waiting (nbgrader's formgrader).</p>"
               for c, n in by_hand.items()),
             "<h2>Diagnosed mistakes (submissions showing each)</h2>",
             _bars([(name, n, max(mistakes.values(), default=1)) for name, n in mistakes.most_common()])
             if mistakes else "<p>None.</p>",
             "<h2>Mistake groups (learners by the diagnosis of each failing test cell)</h2>",
             mistake_groups.html_groups(found or {}, where or {}),
             "<h2>Learners</h2>", mistake_groups.html_learners(submissions, rows, results, found or {}),
             "<h2>Flagged for manual review</h2>",
             _table(["student", "cell", "line", "code", "why"],
                    [(st, c + 1, ln, code, why) for st, (c, ln, code, why) in flagged]) if flagged else "<p>None.</p>",
             "<h2>Scores changed by hand (formgrader)</h2>",
             _table(["student", "test cell", "autograded", "by hand"],
                    [(s.student, cell, *scores) for s in graded for cell, scores in rows[s.student].get("overrides", {}).items()])
             if any(rows[s.student].get("overrides") for s in graded) else "<p>None.</p>",
             "<h2>Not graded</h2>",
             f"<p>{e(BLANK_RULE)}</p>",
             _table(["student", "status", "why"], [(s.student, s.status, "; ".join(s.notes)) for s in ungraded])
             if ungraded else "<p>None.</p>",
             "<h2>Notes on graded submissions</h2>",
             _table(["student", "note"], [(s.student, n) for s in graded for n in s.notes])
             if any(s.notes for s in graded) else "<p>None.</p>"]
    return PAGE.format(title=e(f"{assignment}: class report"), body="\n".join(parts))


def _histogram(scores, top):
    if not scores:
        return "<p>No graded submission.</p>"
    counts = Counter(round(s) for s in scores)
    bins = list(range(0, int(top) + 1))
    highest = max(counts.values())
    width, height, bar, top_room = 40 * len(bins) + 40, 180, 32, 20
    svg = [f'<svg role="img" aria-label="score histogram" viewBox="0 {-top_room} {width} {height + 40 + top_room}" '
           f'width="{width}" height="{height + 40 + top_room}">']
    for i, b in enumerate(bins):
        h = int(height * counts.get(b, 0) / highest)
        x = 30 + 40 * i
        svg.append(f'<rect x="{x}" y="{height - h}" width="{bar}" height="{h}" fill="#3b6ea5"/>'
                   f'<text x="{x + bar / 2}" y="{height + 16}" text-anchor="middle">{b}</text>')
        if counts.get(b):
            svg.append(f'<text x="{x + bar / 2}" y="{height - h - 4}" text-anchor="middle">{counts[b]}</text>')
    svg.append(f'<text x="{width / 2}" y="{height + 36}" text-anchor="middle">points</text></svg>')
    return "".join(svg)


def _bars(items, percent=False):
    """Horizontal bars: (label, value, out_of)."""
    rows, height = [], 26
    svg_height = height * len(items) + 10
    for i, (label, value, out_of) in enumerate(items):
        share = value / out_of if out_of else 0
        y = 5 + i * height
        text = f"{share:.0%} ({value}/{out_of})" if percent else str(value)
        rows.append(f'<text x="0" y="{y + 17}">{html_text(label)}</text>'
                    f'<rect x="260" y="{y + 3}" width="{int(300 * share)}" height="18" fill="#3b6ea5"/>'
                    f'<text x="{268 + int(300 * share)}" y="{y + 17}">{text}</text>')
    return (f'<svg role="img" viewBox="0 0 700 {svg_height}" width="700" height="{svg_height}">'
            + "".join(rows) + "</svg>")


def _table(header, rows):
    head = "".join(f"<th>{html_text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html_text(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
svg {{ max-width: 100%; height: auto; font: 13px sans-serif; }}
table {{ border-collapse: collapse; margin: 0.5rem 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }}
td {{ font-family: monospace; white-space: pre-wrap; }}
</style></head>
<body>
{body}
</body></html>
"""
