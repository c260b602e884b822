"""Per-learner hidden cases: the hidden checks' sizes, seeds and weights are drawn from a secret of the
course, the assignment and the learner's id, so a list of hidden answers shared between learners is
worthless, and a learner graded again gets the same cases. The visible checks are drawn from the
course and the assignment alone: the same for everyone.

The secret is made once per course (.gru_ref/secret, 32 random bytes, mode 0600) and read only by the
grader's own process (the class command, nbgrader's SandboxedExecute). What leaves that process is a
key per learner (an HMAC of the secret: Dask workers get it with the notebook), and what enters the
box is the cases' tensors alone (gru_ref.judge.Judge.payload): neither the secret nor a key.
"""
import hashlib
import hmac
import os
import stat
from pathlib import Path

SECRET_PATH = Path(".gru_ref") / "secret"
SECRET_BYTES = 32


class SecretError(Exception):
    """The course's secret cannot be used; the message says what to do."""


def course_secret(root):
    """The course's secret, made on first use (never overwritten: every grade drawn from it depends on it).
    Gone after the course was graded with one (a copy of the course without it, a deleted .gru_ref/):
    refused, since a new one would silently change every learner's hidden cases."""
    path = Path(root) / SECRET_PATH
    path.parent.mkdir(exist_ok=True)
    graded = None if os.path.lexists(path) else _graded_before(path.parent)
    if graded:
        raise SecretError(f"the course's secret {path} is missing, but this course was graded with one "
                          f"({graded}): restore it from a backup or from the machine that graded (a new one "
                          f"changes every learner's hidden cases); to start over with new ones, remove "
                          f"{path.parent} and grade again (every notebook is graded again)")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(SECRET_BYTES))
    return _read(path)


def _graded_before(folder):
    """A file that the class command keeps of what it graded (.gru_ref/ID/recorded.json or a result), or None."""
    for assignment in sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()):
        for kept in (assignment / "recorded.json", assignment / "results"):
            if kept.is_file() or (kept.is_dir() and any(kept.glob("*.json"))):
                return kept
    return None


def _read(path):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise SecretError(f"cannot read the course's secret {path} ({exc.strerror}): it must be a plain file "
                          f"of this course, not a link; restore it from a backup (a new one changes "
                          f"every learner's hidden cases)") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        data = f.read(SECRET_BYTES + 1)
    if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077 or len(data) != SECRET_BYTES:
        raise SecretError(f"the course's secret {path} is not a {SECRET_BYTES}-byte file readable by its owner "
                          f"only: `chmod 600 {path}` if only its mode is wrong, else restore it from a backup")
    return data


def _mac(key, *parts):
    return hmac.new(key, "\0".join(parts).encode(), hashlib.sha256).hexdigest()


def learner_key(secret, assignment, student):
    """The key of one learner's hidden cases in one assignment (hex)."""
    return _mac(secret, "hidden", assignment, student)


def shared_key(secret, assignment):
    """The key of the visible cases of one assignment, the same for every learner (hex)."""
    return _mac(secret, "visible", assignment)


def keys(root, assignment, student):
    """{"learner": ..., "shared": ...}: what grading one learner's notebook needs of the secret."""
    return keys_of(course_secret(root), assignment, student)


def keys_of(secret, assignment, student):
    """keys() from the secret already read: a run grading many learners reads the file once."""
    return {"learner": learner_key(secret, assignment, student), "shared": shared_key(secret, assignment)}


def check_seed(key, check_id):
    """The seed of one check's cases (a 63-bit int) from a key and the check's id ("grade_id/k")."""
    return int(_mac(bytes.fromhex(key), check_id)[:16], 16) & (2 ** 63 - 1)
