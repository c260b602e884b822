"""The bubblewrap command line that boxes every run of learner code at grading time.

Inside the box: a read-only view of the system libraries, of Python and of the course environment;
of gru_ref only the files the learner's side needs (never the reference equations, the judge or the
mistakes); a size-bounded scratch folder, the only writable place but /dev/shm; no network, no other
process visible (its own PID namespace), no capabilities (the template drops the two it mounts its
scratch folders with: gru_ref.grading.scratch), a clean environment. Nothing of the course folder: no
solutions/, no gradebook.db, no nbgrader_config.py, no submitted/ of others. Resource limits and the seccomp filter
are set inside by gru_ref.grading.template, before any learner code runs.
"""
import glob
import os
import shutil
import subprocess
import sys

from gru_ref.grading import scratch
from gru_ref.grading.fresh_python import PACKAGE_DIR, boot, module_argv
# What the box shows of gru_ref (paths inside the package): the learner's side and the grading machinery
# whose template and runner run in here. Never judge/, assignments/ or reference/ (tests/test_layout.py).
INSIDE = ("__init__.py", "learner", "grading")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf",
             "localtime", "fonts", "alternatives")
SCRATCH = "/scratch"
SCRATCH_TMP = SCRATCH + "/tmp"  # TMPDIR in the box: inside the scratch folder, emptied with it


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start here; the message says how to install or enable it."""


def python_dirs():
    """The folders of the interpreter and of the course environment (sys.base_prefix, sys.prefix
    and the sys.path entries inside them), and nothing else: not the course folder, nor any other
    folder that happens to be on sys.path (nbgrader puts the course root there). Of gru_ref, an
    editable install's source, only INSIDE is shown (see command)."""
    prefixes = {os.path.realpath(p) for p in (sys.base_prefix, sys.prefix)} | {sys.base_prefix, sys.prefix}

    def inside(path):
        return any(path == prefix or path.startswith(prefix + os.sep) for prefix in prefixes)

    dirs = {sys.base_prefix, sys.prefix, *(p for p in sys.path if p and os.path.isdir(p))}
    return sorted(d for d in dirs if inside(d) or inside(os.path.realpath(d)))


def command(gpu=False, threads=1, mount=True):
    """The argv that starts the warm template process inside a fresh box."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(NOT_INSTALLED)
    # --as-pid-1: the template itself is PID 1, not dumpable; no bwrap helper in the box holds the
    # grader's pipes where a learner's process could open them through /proc/1/fd. CAP_SYS_ADMIN (of
    # the box's own namespaces) stays for the template to mount the inode-limited scratch folders, and
    # CAP_SETPCAP to empty the bounding set; it drops both before anything else (gru_ref.grading.scratch).
    argv = [bwrap, "--unshare-all", "--as-pid-1", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            *(["--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_SETPCAP"] if mount else []), "--clearenv"]
    (_, scratch_mb, _, _), (_, shm_mb, _, _) = scratch.FOLDERS
    env = {"PATH": "/usr/bin:/bin", "HOME": SCRATCH, "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
           "NBGRADER_EXECUTION": "autograde", "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": SCRATCH_TMP,
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTORCH_NVML_BASED_CUDA_CHECK": "1", "MPLCONFIGDIR": SCRATCH_TMP + "/matplotlib"}
    for key, value in env.items():
        argv += ["--setenv", key, value]
    for path in SYSTEM_DIRS:
        argv += ["--ro-bind-try", path, path]
    for name in ETC_FILES:
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    # Writable: the scratch folder (temporary files go to its tmp/) and a small /dev/shm, both emptied
    # by the template after each submission. Not /tmp: it stays read-only, as the course environment
    # itself may live under it. /dev is read-only too.
    argv += ["--size", str(scratch_mb << 20), "--tmpfs", SCRATCH,
             "--proc", "/proc", "--dev", "/dev", "--size", str(shm_mb << 20), "--tmpfs", "/dev/shm"]
    for path in python_dirs():
        argv += ["--ro-bind", path, path]
    argv += ["--tmpfs", PACKAGE_DIR]  # hides whatever a python_dirs() entry showed of the package
    for name in INSIDE:
        argv += ["--ro-bind", os.path.join(PACKAGE_DIR, name), os.path.join(PACKAGE_DIR, name)]
    if gpu:
        for node in sorted(glob.glob("/dev/nvidia*")) + sorted(glob.glob("/dev/dri/*")):
            argv += ["--dev-bind", node, node]
        argv += ["--ro-bind-try", "/sys", "/sys"]
    argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", SCRATCH,
             "--", *module_argv("gru_ref.grading.template")]  # the package's folder first on sys.path
    return argv


def shown_in_box(path):
    """The folder that the box shows (read-only) holding path: a system folder or the Python
    environment's; None where the box never shows it."""
    real = os.path.realpath(path)
    for folder in (*SYSTEM_DIRS, *python_dirs()):
        shown = os.path.realpath(folder)
        if real == shown or real.startswith(shown.rstrip(os.sep) + os.sep):
            return folder
    return None


def check_course_hidden(root):
    """SandboxUnavailable where the course folder is inside a folder the box shows: learners' code would
    read its solutions/, gradebook and the course's secret (a course inside the Python environment's
    folder, say, as in a container whose venv is its working folder)."""
    folder = shown_in_box(root)
    if folder:
        raise SandboxUnavailable(
            f"the course folder {root} is inside {folder}, which the sandbox shows to learners' code (it "
            f"holds the system's or the Python environment's files), so their code could read the solutions, "
            f"the gradebook and the course's secret: move the course out of it (or the environment "
            f"elsewhere), then grade again.")


NOT_INSTALLED = (
    "Grading runs every submission inside bubblewrap (bwrap), which is not installed here. Install it "
    "(Debian/Ubuntu: sudo apt-get install bubblewrap libseccomp2; Fedora: sudo dnf install bubblewrap "
    "libseccomp), or run `make setup`, then grade again. For trusted notebooks only (never students'), "
    "GRU_REF_NO_SANDBOX=1 grades without the sandbox.")


def check():
    """Start an empty box once; raise SandboxUnavailable with what to do if that fails."""
    argv = command()
    probe = argv[:argv.index("--")] + ["--", sys.executable, "-I", "-c", boot("import gru_ref.grading.seccomp as s; "
                                                                              "import os; s.confine(os.getpid())")]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise SandboxUnavailable("bubblewrap did not start within 60 s.") from None
    if done.returncode != 0:
        why = done.stderr.strip()[-600:] or f"exit code {done.returncode}"
        if "execvp" in why or "No such file" in why or "ModuleNotFoundError" in why:
            raise SandboxUnavailable(
                f"bubblewrap starts, but the course's Python is not visible inside the sandbox: {why}\n"
                f"The sandbox shows {', '.join(python_dirs())} read-only; run grading with the course "
                f"environment's Python (.venv/bin/python) and report this if it persists.")
        raise SandboxUnavailable(
            f"bubblewrap is installed but cannot start a sandbox here: {why}\n"
            "It needs unprivileged user namespaces. On Ubuntu 24.04 and later: "
            "sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0 (or give bwrap an AppArmor "
            "profile); elsewhere: sudo sysctl kernel.unprivileged_userns_clone=1 and "
            "user.max_user_namespaces > 0. In a container, allow user namespaces (e.g. Docker's "
            "--security-opt seccomp=unconfined). libseccomp must be installed (apt-get install "
            "libseccomp2). Then grade again.")


if __name__ == "__main__":
    try:
        check()
    except SandboxUnavailable as exc:
        sys.exit(f"Cannot grade here: {exc}")
    print("bubblewrap starts a sandbox here, with its seccomp filter.")
