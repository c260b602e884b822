"""The first cell of every exercise notebook works everywhere (issue 15, item 7).

It runs here in IPython, in a child process, as a learner's kernel would run it: outside Colab with no
checker installed it prints the one command to run and stops, touching no network; on Colab it installs
the checker from the address _config.yml gives; where the checker is installed it only imports.
"""
import json
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import setup_cells  # noqa: E402

NOTEBOOKS = sorted((ROOT / "exercises").glob("*/*.ipynb"))

# Runs one setup cell in IPython. argv: the cell's source, then "missing", "colab" or "installed".
# The shell's `!` commands are recorded, never run; on Colab the recorded pip install "installs" gru_ref.
RUN_CELL = r'''
import json, sys
from IPython.core.interactiveshell import InteractiveShell

source, scenario = sys.argv[1], sys.argv[2]


class NotInstalled:
    """gru_ref is not installed: its import fails as for a missing package."""
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "gru_ref":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


if scenario in ("missing", "colab"):
    sys.meta_path.insert(0, NotInstalled())
if scenario == "colab":
    sys.modules["google.colab"] = type(sys)("google.colab")
shell = InteractiveShell.instance()
commands = []


def system(command):
    commands.append(shell.var_expand(command, depth=0))
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, NotInstalled)]


shell.system = system
result = shell.run_cell(source, store_history=True)
print("RESULT " + json.dumps({"commands": commands, "error": type(result.error_in_exec).__name__,
                              "imported_torch": "torch" in shell.user_ns,
                              "checks": sorted(n for n in shell.user_ns if n.startswith("check_"))}))
'''


def run_setup_cell(notebook, scenario, home):
    cell = setup_cells.setup_cell(json.loads(notebook.read_text(encoding="utf-8")))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "IPYTHONDIR": str(home / ".ipython"), "OMP_NUM_THREADS": "1",
           # no network: any attempt to reach a host goes to a closed local port
           "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": ""}
    proc = subprocess.run([sys.executable, "-c", RUN_CELL, "".join(cell["source"]), scenario],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shown, _, result = proc.stdout.rpartition("RESULT ")
    return shown + proc.stderr, json.loads(result)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_outside_colab_without_the_checker_it_prints_the_one_command_and_stops(notebook, tmp_path):
    shown, result = run_setup_cell(notebook, "missing", tmp_path)
    command = f'{sys.executable} -m pip install "gru_ref @ {setup_cells.checker_address()}"'
    lines = [line.strip() for line in shown.strip().splitlines()]
    assert command in lines, f"the cell did not print the command {command!r}; it showed:\n{shown}"
    assert "Traceback" not in shown and len(lines) <= 3, f"more than a message:\n{shown}"
    assert result["commands"] == [], f"outside Colab the cell ran {result['commands']}"
    assert result["error"] == "CheckerMissing" and not result["imported_torch"], (
        "the cell must stop after its message, so that a later cell does not fail on a missing name")


def test_on_colab_it_installs_the_checker_from_the_configured_site(tmp_path):
    shown, result = run_setup_cell(ROOT / "exercises" / "gru" / "gru.ipynb", "colab", tmp_path)
    assert result["commands"] == [f'pip install --quiet "gru_ref @ {setup_cells.checker_address()}"'], result
    assert result["error"] == "NoneType" and "check_my_gru" in result["checks"], shown


def test_with_the_checker_installed_it_only_imports(tmp_path):
    shown, result = run_setup_cell(ROOT / "exercises" / "gru" / "gru.ipynb", "installed", tmp_path)
    assert result["commands"] == [] and result["error"] == "NoneType", (result, shown)
    assert {"check_gru_cell", "check_gru_cell_grad", "check_my_gru"} <= set(result["checks"])
    assert not shown.strip(), f"the cell printed:\n{shown}"
