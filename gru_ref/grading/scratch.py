"""Inside the box, in the template before anything else: the writable folders bounded in files, not
only in bytes, and then every capability dropped, for good, before any learner code exists.

bubblewrap's --tmpfs bounds bytes (--size) but not inodes: 910,000 empty files in 25 s cost 630 MB
of kernel memory that no limit of the box counted. bubblewrap cannot pass tmpfs's nr_inodes, so it
leaves the template CAP_SYS_ADMIN and CAP_SETPCAP (in the box's own user and mount namespaces only);
the template mounts inode-limited tmpfs over the scratch folder and /dev/shm, then drops both and
the bounding set. Where the mount is refused, the folders keep their byte bound only (`mount_limited` says so).
"""
import ctypes
import functools
import operator
import os

# The box's writable folders: (folder, MB, files, mode). bubblewrap makes them with the same sizes.
FOLDERS = (("/scratch", 512, 20_000, 0o755), ("/dev/shm", 64, 1_000, 0o1777))
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
PR_CAPBSET_DROP = 24
CLONE_NEWNS = 0x00020000
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def mount_limited(folder, size_mb, files, mode):
    """A fresh tmpfs over `folder` of at most size_mb MB and `files` inodes, from which nothing can be
    run or loaded as a library (noexec). True if it is there."""
    libc = ctypes.CDLL(None, use_errno=True)
    options = f"size={size_mb}m,nr_inodes={files},mode={mode:o}".encode()
    return libc.mount(b"tmpfs", folder.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options) == 0


def drop_capabilities():
    """No capability left, in any set (bounding, effective, permitted, inheritable, ambient): what
    this process forks starts with none, and could gain none. Raises OSError if the kernel refuses."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in range(64):  # the bounding set first, while CAP_SETPCAP is still held (EINVAL past the last)
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset refused to drop the capabilities")
    if capabilities() != 0:
        raise OSError("capabilities left after capset")


def capabilities():
    """This process's capability bits, all sets together (0: none)."""
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f if line.startswith("Cap"))
    return functools.reduce(operator.or_, (int(value, 16) for value in fields.values()))


def bound(folders=FOLDERS):
    """Mount each (folder, size_mb, files, mode) inode-limited, then drop every capability. Returns
    whether all of them are bounded in files. Ends in this process's original working folder, on
    the new mount if it is one of them."""
    cwd = os.getcwd()
    # A mount namespace of this process's own user namespace: as an ordinary user with --dev, bubblewrap
    # runs the box in a user namespace nested below the one that owns its mounts, where mount is refused.
    ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNS)
    bounded = all([mount_limited(*folder) for folder in folders])
    drop_capabilities()
    os.chdir(cwd)  # the old folder lies under the new mount: go to the new one
    return bounded
