"""Trusted: the class seen by its mistakes. For each failing test cell, the learners grouped by the
diagnosis the judge stored with their verdict (a stable name, gru_ref.judge.diagnosis_names), with
the first diverging tensor of one of them; and a view of each learner: diagnoses, flags, manual
overrides from the gradebook, and why a submission was not graded.

Written by the class report (gru_ref.grading.report) into report.html, and as mistake_groups.json
beside it, which the feedback's group comments read (gru_ref.grading.comments).
"""
import json

from gru_ref.grading.learner_text import html_text
from gru_ref.judge.diagnosis_names import name_of, prose

GROUPS_FILE = "mistake_groups.json"


def diagnosis(verdict):
    """A failing verdict's stable name: stored by the judge, or (a result from before it was) found
    from its message."""
    return verdict.get("diagnosis") or name_of(verdict.get("message", ""))


def groups(graded, results):
    """{grade_id: {diagnosis: [students]}} over the graded submissions' failing test cells, the largest
    group first; and {(grade_id, diagnosis): the first diverging tensor of its first learner}."""
    found, where = {}, {}
    for student in graded:
        for grade_id, verdict in results.get(student, {}).get("tests", {}).items():
            if verdict.get("passed"):
                continue
            name = diagnosis(verdict)
            found.setdefault(grade_id, {}).setdefault(name, []).append(student)
            if verdict.get("where") and (grade_id, name) not in where:
                where[(grade_id, name)] = verdict["where"]
    ordered = {grade_id: dict(sorted(by_name.items(), key=lambda item: (-len(item[1]), item[0])))
               for grade_id, by_name in found.items()}
    return ordered, where


def by_learner(found):
    """{student: [diagnosis, ...]} in the order of the test cells, each diagnosis once."""
    names = {}
    for by_name in found.values():
        for name, students in by_name.items():
            for student in students:
                if name not in names.setdefault(student, []):
                    names[student].append(name)
    return names


def signatures(graded, results):
    """{student: {grade_id: [diagnosis, digest of the wrong outputs]}} where a check failed on cases
    every learner shares (read by gru_ref.similarity)."""
    found = {}
    for student in graded:
        for grade_id, verdict in results.get(student, {}).get("tests", {}).items():
            if not verdict.get("passed") and verdict.get("signature"):
                found.setdefault(student, {})[grade_id] = [diagnosis(verdict), verdict["signature"]]
    return found


def write_json(folder, assignment, found, digests=None):
    """mistake_groups.json: the groups by test cell, each learner's diagnoses (read by the feedback's
    group comments), and the digests of wrong outputs (read by gru_ref.similarity)."""
    data = {"assignment": assignment, "groups": found, "learners": by_learner(found), "signatures": digests or {}}
    (folder / GROUPS_FILE).write_text(json.dumps(data, indent=1, sort_keys=True))


def read_json(folder):
    path = folder / GROUPS_FILE
    return json.loads(path.read_text()) if path.exists() else {"groups": {}, "learners": {}}


def html_groups(found, where):
    """The report's section: per failing test cell, each group with its count, learners and the first
    diverging tensor of its first learner."""
    if not found:
        return "<p>None: every graded test cell passed.</p>"
    e, parts = html_text, []
    for grade_id, by_name in found.items():
        parts.append(f"<h3>{e(grade_id)}</h3><ul>")
        for name, students in by_name.items():
            shown = where.get((grade_id, name))
            parts.append(
                f'<li id="group-{e(grade_id)}-{e(name)}"><strong>{e(prose(name))}</strong>: '
                f'{len(students)} learner{"s" if len(students) != 1 else ""} <code>{e(name)}</code><br>'
                + ", ".join(f'<a href="#learner-{e(s)}">{e(s)}</a>' for s in students)
                + (f"<br>first difference ({e(students[0])}): {e(shown)}" if shown else "") + "</li>")
        parts.append("</ul>")
    return "".join(parts)


def html_learners(submissions, rows, results, found):
    """The report's per-learner view: a row per submission folder, with what each learner shows."""
    names = by_learner(found)
    e, body = html_text, []
    for s in sorted(submissions, key=lambda s: s.student):
        result, row = results.get(s.student, {}), rows.get(s.student) or {}
        flags = [f"cell {c + 1}, line {ln}: {why}" for c, ln, _, why in result.get("flags", [])]
        overrides = [f"{cell}: {auto} -> {manual}" for cell, (auto, manual) in row.get("overrides", {}).items()]
        score = f"{row['score']:g} / {row['max_score']:g}" if "score" in row else ""
        cells = [s.status, score, "; ".join(prose(n) for n in names.get(s.student, [])),
                 "; ".join(flags), "; ".join(overrides), "; ".join(s.notes)]
        body.append(f'<tr id="learner-{e(s.student)}"><td>{e(s.student)}</td>'
                    + "".join(f"<td>{e(v)}</td>" for v in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("learner", "status", "score", "diagnoses", "flags",
                                             "manual overrides", "notes (why not graded)"))
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"
