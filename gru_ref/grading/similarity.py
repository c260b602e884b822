"""Trusted: pairs of submissions to look at side by side. `python -m gru_ref.similarity ASSIGNMENT` at the course
root writes reports/ASSIGNMENT/similarity.html and prints how many pairs it found.

Two kinds of pair:
- answer code that is nearly the same once names, comments, docstrings and layout are normalised
  and the released notebook's own lines removed: each top-level definition is normalised on its own
  (its names numbered in the order they first appear; attributes, keywords and builtins kept), the
  definitions sorted, and two submissions compared by the Jaccard index of their token 5-grams;
  pairs at or above --threshold (default 0.8) are listed, and pairs where nearly all of one's 5-grams
  are in the other's (CONTAINED: a copy padded with code that does nothing);
- the same unusual wrong output: two learners whose visible check failed with outputs of the same
  digest (gru_ref.judge.judge._signature, on cases every learner shares) that no known mistake
  explains (a known mistake gives many learners the same output, and proves nothing).

It reads submitted/ (bounded, never through a link, as the class command does), exercises/ and the
class command's reports/ASSIGNMENT/mistake_groups.json; it runs nothing and sends nothing anywhere.
A pair is a reason to read two notebooks, not a verdict.

A learner's code is data: code that Python cannot parse (too deeply nested, null bytes) is compared as
tokens, and only its first MAX_CODE_CHARS are compared or shown, so that no submission stops the
report or holds it for long.
"""
import argparse
import ast
import builtins
import io
import itertools
import json
import keyword
import sys
import tokenize
from pathlib import Path

from gru_ref.grading import collect
from gru_ref.grading.learner_text import html_text
from gru_ref.judge.diagnosis_names import OTHER, UNKNOWN

DEFAULT_THRESHOLD = 0.8
CONTAINED = 0.95  # the share of the smaller one's 5-grams in the other's that pairs them whatever the padding
MAX_CODE_CHARS = 50_000  # of one submission's answer code: honest answers are a few thousand
GRAM = 5
SIDE_BY_SIDE = 200  # pairs shown with their code; the rest are listed (a leaked answer copied by many pairs them all)
MIN_TOKENS = 40  # less answer code than this (an untouched notebook) pairs with nothing
UNUSUAL = (UNKNOWN, OTHER, "float32_only")  # diagnoses no known mistake explains
KEPT_NAMES = set(dir(builtins)) | {"self", "torch", "nn", "F", "np", "math"}


STRUCTURE = ("def ", "async def ", "class ", "@")  # released lines kept: what holds the code's shape


def answer_code(nb, released):
    """The learner's code: every code cell that is neither locked nor a test cell, with the lines the
    released notebook already had in it removed (but its `def` lines, which the answer sits in)."""
    given = {line.strip() for cell in released.cells if cell.cell_type == "code"
             for line in cell.source.splitlines() if line.strip()}
    untouched = {cell.source.strip() for cell in released.cells if cell.cell_type == "code"}
    lines = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("locked") or (meta.get("grade") and not meta.get("solution")) \
                or cell.source.strip() in untouched:
            continue
        lines += [line for line in cell.source.splitlines()
                  if line.strip() and (line.strip() not in given or line.lstrip().startswith(STRUCTURE))]
    return "\n".join(lines)


def _parseable(code):
    """The code without IPython's own syntax (magics, shell escapes), which ast cannot read."""
    return "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))


def units(code):
    """The code's top-level statements, each normalised to a token list (see the module's docstring),
    definitions sorted: renaming, reordering helpers and reformatting change nothing."""
    whole = _parsed_units(code)
    if whole is None:  # each top-level block on its own: one that does not parse is read as tokens
        whole = [unit for block in _blocks(code) for unit in (_parsed_units(block) or [_tokens(block)])]
    return sorted(whole, key=lambda t: " ".join(t))


def _parsed_units(code):
    """The normalised statements of code that parses, or None: a syntax error, a null byte, or nesting
    deeper than Python's parser or unparser goes (RecursionError) is the learner's, never the report's."""
    try:
        return _normalised(ast.parse(_parseable(code)))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _blocks(code):
    """The code cut before each line that starts at the left margin."""
    blocks = []
    for line in code.splitlines():
        if not blocks or (line[:1].strip() and not line.startswith((")", "]", "}"))):
            blocks.append([])
        blocks[-1].append(line)
    return ["\n".join(block) for block in blocks]


def _normalised(tree):
    for node in ast.walk(tree):  # docstrings go
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return [_tokens(ast.unparse(statement)) for statement in tree.body]


def _tokens(code):
    """Tokens with names numbered by first appearance: comments, layout and names gone."""
    numbered, out, previous = {}, [], None
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER):
                continue
            text = token.string
            if token.type == tokenize.NAME and not keyword.iskeyword(text) and text not in KEPT_NAMES \
                    and previous != ".":
                text = "v%d" % numbered.setdefault(text, len(numbered))
            elif token.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.NEWLINE):
                text = tokenize.tok_name[token.type]
            out.append(text)
            previous = token.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # what was read so far counts
    return out


def grams(code):
    tokens = [t for unit in units(code) for t in unit + ["|"]]
    if len(tokens) < MIN_TOKENS:
        return set()
    return {tuple(tokens[i:i + GRAM]) for i in range(len(tokens) - GRAM + 1)}


def similarity(a, b):
    """The Jaccard index of two submissions' 5-gram sets (0 when either has too little code); or, where
    at least CONTAINED of the smaller set is in the larger (a copy padded with unused code, which
    lowers the Jaccard index at will), that share."""
    if not a or not b:
        return 0.0
    shared = len(a & b)
    contained = shared / min(len(a), len(b))
    return contained if contained >= CONTAINED else shared / len(a | b)


def code_pairs(codes, threshold=DEFAULT_THRESHOLD):
    """[(score, student, student)] of the pairs at or above threshold, highest first."""
    fingerprints = {student: grams(code[:MAX_CODE_CHARS]) for student, code in codes.items()}
    pairs = [(similarity(fingerprints[a], fingerprints[b]), a, b)
             for a, b in itertools.combinations(sorted(fingerprints), 2)]
    return sorted(((round(s, 3), a, b) for s, a, b in pairs if s >= threshold), reverse=True)


def output_pairs(signatures, most=None):
    """[(grade_id, student, student)] of learners whose failing check gave the same wrong output that no
    known mistake explains. signatures: {student: {grade_id: [diagnosis, digest]}}. A digest shared by
    more than `most` learners (default: a tenth of them, at least 2) is common, not unusual."""
    most = most or max(2, len(signatures) // 10)
    shared = {}
    for student, by_cell in signatures.items():
        for grade_id, (name, digest) in by_cell.items():
            if digest and name in UNUSUAL:
                shared.setdefault((grade_id, digest), []).append(student)
    return sorted((grade_id, a, b) for (grade_id, _), students in shared.items() if len(students) <= most
                  for a, b in itertools.combinations(sorted(students), 2))


def report(assignment, codes, pairs, same_outputs, threshold):
    e = html_text
    parts = [f"<h1>Similar submissions: {e(assignment)}</h1>",
             f"<p>{len(codes)} submission(s) compared. Answer code compared after normalising names, comments, "
             f"docstrings and layout, with the released notebook's lines removed (threshold {threshold:g}, the "
             f"Jaccard index of token 5-grams; or the share of one's 5-grams found in the other's, where it is "
             f"{CONTAINED:g} or more: a copy padded with unused code). Each submission's first "
             f"{MAX_CODE_CHARS:,} characters of answer code are compared and shown. A pair is a reason to read "
             f"both notebooks, not a verdict.</p>",
             "<h2>Nearly the same answer code</h2>"]
    if not pairs:
        parts.append("<p>None.</p>")
    for i, (score, a, b) in enumerate(pairs):
        parts.append(f"<h3>{e(a)} and {e(b)}: {score:.2f}</h3>"
                     + (_side_by_side(a, codes[a], b, codes[b]) if i < SIDE_BY_SIDE else ""))
    if len(pairs) > SIDE_BY_SIDE:
        parts.append(f"<p>The first {SIDE_BY_SIDE} pairs are shown side by side; the others are listed.</p>")
    parts.append("<h2>The same unusual wrong output</h2>")
    if not same_outputs:
        parts.append("<p>None.</p>")
    for i, (grade_id, a, b) in enumerate(same_outputs):
        parts.append(f"<h3>{e(a)} and {e(b)}: {e(grade_id)}</h3>"
                     + (_side_by_side(a, codes.get(a, ""), b, codes.get(b, "")) if i < SIDE_BY_SIDE else ""))
    return PAGE.format(title=e(f"{assignment}: similar submissions"), body="\n".join(parts))


def _side_by_side(a, code_a, b, code_b):
    return (f"<table><tr><th>{html_text(a)}</th><th>{html_text(b)}</th></tr><tr>"
            f"<td><pre>{_lines(code_a)}</pre></td><td><pre>{_lines(code_b)}</pre></td></tr></table>")


def _lines(code):
    shown = "\n".join(html_text(line) for line in code[:MAX_CODE_CHARS].splitlines())
    return shown + (f"\n... ({len(code) - MAX_CODE_CHARS:,} more characters not shown)" if len(code) > MAX_CODE_CHARS else "")


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: sans-serif; max-width: 90rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; table-layout: fixed; }}
td, th {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }}
pre {{ white-space: pre-wrap; margin: 0; }}
</style></head>
<body>
{body}
</body></html>
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment")
    parser.add_argument("--root", default=".", help="the course root (where submitted/ and exercises/ are)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"the least similarity of a listed pair, 0 to 1 (default {DEFAULT_THRESHOLD})")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    if not 0 < args.threshold <= 1:
        print(f"--threshold must be above 0 and at most 1, not {args.threshold:g}", file=sys.stderr)
        return 2
    released_path = root / "exercises" / args.assignment / f"{args.assignment}.ipynb"
    if not released_path.is_file():
        print(f"no released notebook {released_path}: run this at the course root (or pass --root), after "
              f"`nbgrader generate_assignment {args.assignment}`", file=sys.stderr)
        return 2
    released = collect.read_notebook(released_path)
    codes = {}
    for submission in collect.collect(root, args.assignment):  # reads only: nothing in submitted/ is written
        if submission.notebook is None or submission.status not in ("graded", "flagged"):
            continue
        try:
            codes[submission.student] = answer_code(collect.read_notebook(submission.notebook), released)
        except Exception:  # noqa: BLE001 (an unreadable notebook: the class report names it)
            continue
    groups = root / "reports" / args.assignment / "mistake_groups.json"
    signatures = json.loads(groups.read_text()).get("signatures", {}) if groups.exists() else {}
    pairs, same = code_pairs(codes, args.threshold), output_pairs(signatures)
    out = root / "reports" / args.assignment
    out.mkdir(parents=True, exist_ok=True)
    (out / "similarity.html").write_text(report(args.assignment, codes, pairs, same, args.threshold))
    print(f"{len(pairs)} pair(s) of nearly the same code, {len(same)} pair(s) with the same unusual wrong "
          f"output, among {len(codes)} submission(s): {out / 'similarity.html'}")
    if not signatures:
        print("(no wrong outputs to compare: grade the class with `python -m gru_ref.grade "
              f"{args.assignment}` first)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
