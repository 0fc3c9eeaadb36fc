"""Files written whole or not at all: a temporary file beside the target, then an atomic rename.

Every file nvs-eval writes goes through here, so every one gets the mode a plain ``open(path, "w")`` would give
under the user's umask (``tempfile.mkstemp`` creates its files 0600, which would make a report copied to a web
server or a shared folder unreadable to everyone else).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreError, option


def umask_mode(base: int = 0o666) -> int:
    """``base`` less the process umask: the mode ``open(path, "w")`` gives a new file."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def private_temp(folder: Path, name: str, suffix: str = "") -> Path:
    """A new empty file in ``folder``, named after ``name``, with the umask's mode (not mkstemp's 0600)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=folder)
    try:
        os.fchmod(fd, umask_mode())
    finally:
        os.close(fd)
    return Path(tmp)


@contextmanager
def atomic_output(path: Path | str, force: bool = True):
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path`` (atomic), on failure removed.
    With ``force=False`` an existing ``path`` is refused instead of replaced."""
    path = Path(path)
    if not force and path.exists():
        raise StoreError("already exists", path=path, hint=f"pass {option('force')} to overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = private_temp(path.parent, path.stem, f".tmp{path.suffix}")
    except OSError as e:
        raise _naming(e, path) from e
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        if tmp.exists():
            tmp.unlink()
        if isinstance(e, OSError) and not e.filename:  # a write into the temporary file: name the real target
            raise _naming(e, path) from e
        raise


def _naming(e: OSError, path: Path) -> OSError:
    """The same error, naming the file being written (a full disk's write error names none)."""
    return type(e)(e.errno, e.strerror or str(e), str(path)) if e.errno else e


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and an atomic rename."""
    with atomic_output(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write_text`)."""
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
