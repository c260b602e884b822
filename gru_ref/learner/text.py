"""Messages sized for where learners read them. No torch here: the grader imports it cheaply."""
import textwrap


def wrap(message, width=80):
    """Prose lines wrapped to fit nbgrader's Validate report (it indents, then cuts at 87 characters);
    indented lines (the learner's code, a traceback) stay as they are."""
    lines = []
    for line in message.splitlines():
        keep = line.startswith(" ") or len(line) <= width
        lines.extend([line] if keep else textwrap.wrap(line, width, break_on_hyphens=False))
    return "\n".join(lines)
