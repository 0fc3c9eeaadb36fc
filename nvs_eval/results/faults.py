"""SQLite's and the file system's faults, as the structured error a person can act on.

Every operation of :class:`nvs_eval.results.store.ResultsStore` passes what SQLite raises through :func:`store_fault`,
so a full disk, a read-only folder, a lock held too long or a damaged file is one :class:`StoreError` naming the
store (exit 2 in the CLI), never an "internal error". What SQLite says is kept in the message, and the error it came
from stays the ``__cause__``. Anything else SQLite raises (a malformed statement) is a bug and is re-raised as is.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from ..errors import StoreError

# the primary result codes of https://www.sqlite.org/rescode.html that are the file's or the disk's doing
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 3, 5, 6, 8, 10, 11, 13, 14, 26
_LOW_SPACE = 1 << 20  # bytes: below this an I/O error is reported as a full disk


def _code(e: BaseException) -> int | None:
    code = getattr(e, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def sqlite_cause(e: BaseException) -> sqlite3.Error | None:
    """The SQLite error behind ``e`` (pandas wraps it in its own ``DatabaseError``), or None."""
    while e is not None and not isinstance(e, sqlite3.Error):
        e = e.__cause__
    return e


def free_bytes(folder: Path) -> int | None:
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def read_only_reason(path: Path) -> str:
    """Why ``path`` (a file, or the folder it would be in) cannot be written: a read-only file system, the file's
    permission, or its folder's (SQLite writes ``-wal`` and ``-shm`` files beside the store)."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"the file system holding {folder} is mounted read-only"
    except OSError:
        pass
    if path.exists() and not os.access(path, os.W_OK):
        return f"the file is not writable by this user (mode {path.stat().st_mode & 0o777:o})"
    if folder.exists() and not os.access(folder, os.W_OK):
        return (f"its folder {folder} is not writable by this user (mode {folder.stat().st_mode & 0o777:o}; "
                "SQLite writes its -wal and -shm files beside the store)")
    return "the file or its folder is read-only"


def holders(path: Path) -> list[str]:
    """The other processes that have ``path`` open, as ``pid N (command line)`` (Linux's /proc; empty elsewhere)."""
    target, found = str(path.resolve()), []
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
    except OSError:
        return []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == target for fd in fds):
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\x00", b" ").decode(errors="replace").strip()
                found.append(f"pid {pid} ({cmd[:120]})")
        except OSError:
            continue
    return found


def first_bytes(path: Path, n: int = 16) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def store_fault(e: BaseException, path: Path, doing: str, timeout: float) -> BaseException:
    """The :class:`StoreError` for what SQLite (or the OS) raised while ``doing`` (e.g. "writing") the store at
    ``path``; ``e`` itself where it is not the file's or the disk's doing (a bug, reported as one)."""
    if isinstance(e, OSError) and e.errno is not None:
        return os_fault(e, path, doing)
    cause = sqlite_cause(e)
    code = _code(cause) if cause is not None else None
    said = f"SQLite: {cause}" if cause is not None else str(e)
    low = (free_bytes(path.parent) or 0) < _LOW_SPACE
    if code == _FULL or (code == _IOERR and low):
        return StoreError(f"no space left while {doing} it ({said})", path=path,
                          hint="everything stored before is safe; free space and run the same command")
    if code in (_READONLY, _PERM, _CANTOPEN) and (code != _CANTOPEN or path.exists()):
        return StoreError(f"cannot {'write' if doing == 'writing' else 'open'} it: {read_only_reason(path)} "
                          f"({said})", path=path,
                          hint="everything stored before is safe; make it writable (or copy the folder somewhere "
                               "writable) and run the same command")
    if code in (_BUSY, _LOCKED):
        who = holders(path)
        other = f"held by {', '.join(who)}" if who else "held by another process (not known which)"
        return StoreError(f"still locked by another writer after waiting {timeout:g} s, {other} ({said})", path=path,
                          hint="nothing was lost; let the other writer finish (or stop it) and run the same command")
    if code == _NOTADB:
        return StoreError(f"not an SQLite database: its first bytes are {first_bytes(path)!r} ({said})", path=path,
                          expected="an nvs-eval results store",
                          hint="it was left as it is; if it is the wrong file, point at the right one; otherwise "
                               "move it aside (mv it to another name) and score again: `score` and `evaluate` start a "
                               "new store there, and `report` reads it")
    if code == _CORRUPT:
        return StoreError(f"the store is damaged ({said}); nothing was written to it", path=path,
                          hint=f"`nvs-eval recover {path.parent}` reads every row still readable into a new store "
                               f"in its place (the damaged file is kept as {path.name}.damaged), then run the same "
                               "command: `score` and `evaluate` reuse every recovered row and score only what was "
                               "lost, `report` reads the recovered rows")
    if code == _IOERR:
        return StoreError(f"input/output error while {doing} it ({said}); the disk or network file system failed",
                          path=path, hint="everything committed before is safe; check the disk and run the same "
                                          "command")
    return e


def os_fault(e: OSError, path: Path | str, doing: str = "writing", store_kept: bool = True) -> BaseException:
    """The structured error for an OS error while ``doing`` ``path`` (a full disk, a read-only file system, a
    permission), or ``e`` itself for any other. ``store_kept``: say that the results store is untouched (where the
    command has one)."""
    path = Path(e.filename) if e.filename else Path(path)
    kept = "the results store is untouched and keeps every scored view; " if store_kept else ""
    reused = " (stored rows are reused)" if store_kept else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreError(f"no space left while {doing} it ({e.strerror})", path=path,
                          hint=f"{kept}free space and run the same command{reused}")
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreError(f"cannot write it: {read_only_reason(path)} ({e.strerror})", path=path,
                          hint=f"{kept}make it writable (or choose another folder) and run the same command")
    return e
