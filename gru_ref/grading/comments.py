"""Trusted: one comment per mistake group. The class command writes reports/ID/comments.yml, a
template keyed by each diagnosis' stable name (its prose name and how many learners show it as YAML
comments); the instructor writes a comment under a name; the next `nbgrader generate_feedback ID`
puts it into the feedback of every learner in that group (GroupComments, set in nbgrader_config.py),
under the first test cell that shows it, as text (an output stream: nbconvert escapes it).

The template is never overwritten: a group that appears later (a late submission) is added at its end.
A comment under a name that is no group of the class (a typo, a group that is gone) reaches no one:
the class command and generate_feedback say so, once each.
"""
import logging
import sys
from pathlib import Path

import yaml
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool

from gru_ref.grading import mistake_groups
from gru_ref.grading.learner_text import visible
from gru_ref.judge.diagnosis_names import prose

COMMENTS_FILE = "comments.yml"
HEADER = """\
# One comment per mistake group of {assignment}, written by `python -m gru_ref.grade {assignment}`.
# Write a comment after a group's name (YAML: "text in quotes", or a block after `|`); the next
# `nbgrader generate_feedback {assignment}` puts it into the feedback of every learner in that
# group, as plain text. Leave "" to send nothing. This file is never overwritten: groups that
# appear later are added at its end. The learners of each group are in report.html.
"""


class CommentsError(ValueError):
    """comments.yml cannot be read; the message says where and what to do."""


def _entry(name, students):
    return (f"\n# {prose(name)}: {len(students)} learner{'s' if len(students) != 1 else ''}\n"
            f"{name}: \"\"\n")


def unmatched(written, found):
    """The names in comments.yml that have a comment but no group of learners in `found`."""
    groups = {name for by_name in found.values() for name in by_name}
    return sorted(name for name, text in written.items() if text and name not in groups)


def unmatched_line(path, names):
    shown = ", ".join(f"'{visible(n)[:60]}'" for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (f"{path}: no learner is in a group named {shown} (the groups are those of report.html): its "
            f"comment reaches no one; correct the name, then generate the feedback again")


def write_template(folder, assignment, found):
    """Write or extend folder/comments.yml with a name per diagnosis in `found` (mistake_groups.groups),
    keeping every line the instructor wrote. Returns the names added."""
    path = Path(folder) / COMMENTS_FILE
    learners = {}
    for by_name in found.values():
        for name, students in by_name.items():
            learners.setdefault(name, set()).update(students)
    try:
        written = load(path) if path.exists() else None
    except CommentsError as exc:  # the instructor's file, half edited: left exactly as it is, and said so
        print(f"Not adding new groups to it: {exc}", file=sys.stderr)
        return []
    if written and unmatched(written, found):
        print(unmatched_line(path, unmatched(written, found)), file=sys.stderr)
    new = [name for name in sorted(learners, key=lambda n: (-len(learners[n]), n)) if name not in (written or {})]
    if written is None:
        path.write_text(HEADER.format(assignment=assignment) + "".join(_entry(n, learners[n]) for n in new))
    elif new:
        with open(path, "a") as f:
            f.write("".join(_entry(n, learners[n]) for n in new))
    return new


def load(path):
    """{diagnosis name: comment} of a comments.yml ("" where none is written)."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise CommentsError(f"{path} is not valid YAML{where}: put each comment in quotes, or in a block "
                            f"after `name: |`, then generate the feedback again") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str))
                                             for k, v in data.items()):
        raise CommentsError(f"{path} must map each group's name to a comment (text), as its template does: "
                            f"fix it, then generate the feedback again")
    return {name: (text or "").strip() for name, text in data.items()}


def for_learner(folder, student, log=None):
    """[(diagnosis, comment, the test cells where the learner shows it)] for one learner, each
    diagnosis with a comment written once."""
    folder = Path(folder)
    if not (folder / COMMENTS_FILE).exists():
        return []
    written = load(folder / COMMENTS_FILE)
    try:
        found = mistake_groups.read_json(folder)["groups"]
        if not isinstance(found, dict) or not all(isinstance(v, dict) for v in found.values()):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise CommentsError(f"{folder / mistake_groups.GROUPS_FILE} is not the class command's: run "
                            f"`python -m gru_ref.grade` again, then generate the feedback again") from None
    _say_unmatched(folder / COMMENTS_FILE, unmatched(written, found), log or logging.getLogger(__name__))
    cells = {}
    for grade_id, by_name in found.items():
        for name, students in by_name.items():
            if student in students and written.get(name):
                cells.setdefault(name, set()).add(grade_id)
    return [(name, written[name], grade_ids) for name, grade_ids in sorted(cells.items())]


_SAID = set()  # (path, names) already said in this process: generate_feedback runs a class at once


def _say_unmatched(path, names, log):
    if names and (str(path), tuple(names)) not in _SAID:
        _SAID.add((str(path), tuple(names)))
        log.warning(unmatched_line(path, names))


class GroupComments(NbGraderPreprocessor):
    """In generate_feedback: each comment of the learner's groups, as text under its test cell."""
    enabled = Bool(True)

    def preprocess(self, nb, resources):
        from nbformat.v4 import new_output
        from nbgrader.coursedir import CourseDirectory
        info = resources["nbgrader"]
        folder = Path(CourseDirectory(config=self.config).root) / "reports" / info["assignment"]
        try:
            found = for_learner(folder, info["student"], self.log)
        except CommentsError as exc:  # one line, and the feedback without comments: fix it, generate again
            self.log.error("%s: no group comment added: %s", info["student"], exc)
            return nb, resources
        for name, comment, grade_ids in found:  # under the first test cell, in the notebook's order, showing it
            cell = next((c for c in nb.cells if c.cell_type == "code"
                         and c.metadata.get("nbgrader", {}).get("grade_id") in grade_ids), None)
            if cell is not None:
                cell.outputs.append(new_output("stream", name="stdout", text=(
                    f"A note from your instructor on this mistake ({prose(name)}):\n{comment}\n")))
        return nb, resources
