"""Write the learners' checker address into the setup cell of every exercise notebook.

The first code cell of each notebook in solutions/ names where the learners' checker is served, in one
line: `CHECKER = "gru_ref @ <html.baseurl>_static/learners/<wheel>"`. That address comes from
_config.yml's `html.baseurl` and the package's version (book/_ext/learner_edition.py), so that a fork
of the course that publishes its site elsewhere changes one setting and runs:

    .venv/bin/python tools/setup_cells.py          # rewrite the line, regenerate exercises/
    .venv/bin/python tools/setup_cells.py --check  # only say which notebooks disagree (exit 1)

tests/test_repo.py fails while a notebook disagrees with _config.yml.
"""
import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from learner_edition import FOLDER, wheel_name  # noqa: E402

CHECKER_LINE = re.compile(r'^CHECKER = "[^"\n]*"', re.M)


def checker_address(root=ROOT):
    """Where the site serves the learners' wheel: `<html.baseurl>/_static/learners/<wheel>`."""
    site = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))["html"]["baseurl"].rstrip("/")
    return f"{site}/{FOLDER.as_posix()}/{wheel_name(root)}"


def setup_cell(notebook):
    """The first code cell of a notebook (a dict read from its JSON)."""
    return next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")


def stated_address(notebook):
    """The address the setup cell's CHECKER line names, or None without one."""
    match = CHECKER_LINE.search("".join(setup_cell(notebook)["source"]))
    return match and match.group(0).split('"')[1].removeprefix("gru_ref @ ")


def rewrite(path, address):
    """Point the setup cell of the notebook at `address`; True if the file changed."""
    text = path.read_text(encoding="utf-8")
    notebook = json.loads(text)
    cell = setup_cell(notebook)
    source = "".join(cell["source"])
    if not CHECKER_LINE.search(source):
        raise SystemExit(f"{path.relative_to(ROOT)}: its first code cell has no `CHECKER = \"...\"` line; "
                         "copy the setup cell of solutions/gru/gru.ipynb into it")
    new = CHECKER_LINE.sub(f'CHECKER = "gru_ref @ {address}"', source, count=1)
    if new == source:
        return False
    cell["source"] = new.splitlines(keepends=True)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook disagrees")
    args = parser.parse_args()
    address = checker_address()
    notebooks = sorted((ROOT / "solutions").glob("*/*.ipynb")) + sorted((ROOT / "exercises").glob("*/*.ipynb"))
    stale = [p for p in notebooks if stated_address(json.loads(p.read_text(encoding="utf-8"))) != address]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)}: the setup cell does not install {address}")
        return 1 if stale else 0
    changed = [p for p in stale if p.is_relative_to(ROOT / "solutions") and rewrite(p, address)]
    assignments = sorted({p.parent.name for p in stale})
    for assignment in assignments:  # the learners' copies follow their source
        subprocess.run([str(Path(sys.executable).with_name("nbgrader")), "generate_assignment", assignment,
                        "--force"], cwd=ROOT, check=True)
    print(f"{len(changed)} source notebook(s) now install {address}; regenerated: {', '.join(assignments) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
