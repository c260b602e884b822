"""Trusted: text a learner wrote (code lines, markdown, names, file names) written out as text, never
as markup. One function per place it is written:

    markdown_literal   Markdown that nbconvert renders with raw HTML allowed: nbgrader's comments
                       (the feedback page) and the learner's own markdown and raw cells
    html_text          HTML: the class report
    spreadsheet_cell   a CSV cell: grades.csv (no formula)
    unsafe_student_id  a folder name, before nbgrader's gradebook takes it as a student id: the
                       formgrader writes ids into its HTML and JavaScript unescaped

Prints and tracebacks need none of these: nbconvert writes outputs into <pre> through ansi2html,
which escapes them (tests/test_feedback_browser.py checks both pages in a browser).
"""
import html
import re

# Letters, digits and . _ @ -, starting with a letter or a digit: nothing that HTML, JavaScript,
# a URL or a spreadsheet reads as syntax. 128 is the gradebook's column width.
SAFE_STUDENT_ID = re.compile(r"[^\W_][\w.@-]{0,127}")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def visible(text):
    """The text on one line, with every character that is not printable shown as its escape (a line
    break, a carriage return, an ANSI or a bidirectional control: `\\r`, `\\x1b`, `\\u202e`), so that
    it can end no line, block or fence, and hide nothing."""
    return "".join(c if c.isprintable() or c == "\t" else c.encode("unicode_escape").decode("ascii")
                   for c in str(text))


def markdown_literal(lines):
    """The lines as one fenced code block: Markdown shows them exactly as written (in <pre>, which
    MathJax skips too), with no HTML, link, image, emphasis, entity or math of theirs interpreted.
    The fence is longer than any run of backticks in the lines, so none of them can close it."""
    lines = [visible(line) for line in lines]
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([fence, *lines, fence])


def html_text(value):
    """Any value as HTML text on one line (quotes escaped too: safe in an attribute)."""
    return html.escape(visible(value), quote=True)


def spreadsheet_cell(value):
    """A CSV value that no spreadsheet reads as a formula: text starting with = + - @ (or a tab or
    a line break) gets a leading apostrophe, as OWASP advises. Numbers pass as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unsafe_student_id(student):
    """None for a student id that is safe to show anywhere, or why not and what to do (one line)."""
    if SAFE_STUDENT_ID.fullmatch(student):
        return None
    return (f"the folder name '{visible(student)[:80]}' cannot be a student id (letters, digits and . _ @ - "
            f"only, starting with a letter or a digit, at most 128): nbgrader would show it unescaped in "
            f"the formgrader. Rename the folder (to the student's login, say) and grade again")
