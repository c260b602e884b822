"""Trusted: a learner's feedback page that opens anywhere, alone, with no network (nbgrader's
generate_feedback, set in nbgrader_config.py).

MathToMathML writes the instructor's maths as MathML when the page is made (latex2mathml): browsers
render MathML themselves, so the page needs no MathJax, no script and no folder beside it, and a page
sent by mail shows its equations. Only the instructor's cells are converted (locked, not an answer):
the learner's cells are plain text already (gru_ref.grading.learner_text), and their dollars stay
dollars. HideIntegrityFlags keeps the integrity scan's comment (FlagForReview's, for the instructor
and the formgrader) out of the learner's page: a grader's own comment is shown as always.
"""
import html
import re

from latex2mathml.converter import convert
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from gru_ref.grading.nbgrader_steps import FLAG_HEADER

# Code (fenced blocks, inline spans) is left as it is; maths is $$...$$, \[...\], $...$ or \(...\).
PIECES = re.compile(r"(?P<code>^(?P<fence>`{3,}|~{3,})[^\n]*\n.*?^(?P=fence)[ \t]*$|(?P<ticks>`+).+?(?P=ticks))"
                    r"|\$\$(?P<display>.+?)\$\$|\\\[(?P<display2>.+?)\\\]"
                    r"|(?<![\\$])\$(?P<inline>[^$\n]+?)\$|\\\((?P<inline2>.+?)\\\)", re.S | re.M)
# In MathML's text, every character that Markdown could read as syntax, as an entity: nbconvert
# renders the cell's Markdown around the MathML, and an asterisk or underscore must stay one.
MARKDOWN_TEXT = re.compile(r"[^A-Za-z0-9 ]")
ALIGNED = re.compile(r"\\(begin|end)\{aligned\}")


def math_to_mathml(markdown):
    """The Markdown with each formula outside code replaced by its MathML, on one line."""
    def replace(match):
        if match.group("code"):
            return match.group(0)
        display = match.group("display") or match.group("display2")
        tex = display or match.group("inline") or match.group("inline2")
        tex = ALIGNED.sub(r"\\\1{align*}", tex.strip())  # latex2mathml reads align*, not aligned
        try:
            mathml = convert(tex, display="block" if display else "inline")
        except Exception:  # latex2mathml cannot read it: the TeX stays, as text
            return match.group(0)
        if re.search(r"&(?!#x?[0-9a-fA-F]+;)", mathml):  # an alignment it did not understand
            return match.group(0)
        return _markdown_safe(mathml)
    return PIECES.sub(replace, markdown)


def _markdown_safe(mathml):
    parts = re.split(r"(<[^>]*>)", mathml.replace("\n", ""))
    return "".join(part if part.startswith("<") else
                   MARKDOWN_TEXT.sub(lambda c: f"&#x{ord(c.group()):x};", html.unescape(part)) for part in parts)


def instructors(cell):
    """A markdown cell of the instructor's: locked by nbgrader (restored from the source notebook), not an answer."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "markdown" and meta.get("locked") and not meta.get("solution")


class MathToMathML(Preprocessor):
    enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        if instructors(cell):
            cell.source = math_to_mathml(cell.source)
        return cell, resources


class HideIntegrityFlags(Preprocessor):
    """After nbgrader's GetGrades: the scan's comment is the instructor's, never the learner's."""
    enabled = Bool(True)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        if str(meta.get("comment") or "").startswith(FLAG_HEADER):
            meta["comment"] = None
        return cell, resources
