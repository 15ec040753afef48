"""The disk cache's files: a directory private to its user, files replaced atomically, and no
I/O error ever raised.

Safe under concurrent processes: every file is written to a temporary file in its directory and
renamed over the old one (``os.replace``), so a reader sees the old file or the new one, never a
torn one. Files are created 0600 in 0700 directories, whatever the umask.

A missing file is a miss. Any other I/O error (a directory the user may not enter or write, as one
root made with the same HOME; a file where a directory should be; a full or read-only disk) turns
the cache off for the rest of the run, and is said once: the run goes on without it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["CacheDirectory"]

logger = logging.getLogger("regimage")

#: A metadata file larger than this is not read (a token file is a few KB).
_MAX_META_BYTES = 1024 * 1024
#: Numbers for this process's temporary files (with its pid, a name no other writer uses).
_TEMPORARY_NUMBERS = itertools.count()


class CacheDirectory:
    """``directory/version``: where the files of one cache layout live.

    :meth:`ensure_private` says whether ``directory`` and ``root`` are this user's and 0700 (what
    secrets need). No method raises an :class:`OSError`: a missing file is a miss, and any other
    error turns the cache off (:attr:`unusable` says why), said once to ``on_unusable`` (by
    default, a warning on the ``regimage`` logger).
    """

    def __init__(
        self,
        directory: Path,
        version: str,
        *,
        on_unusable: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = directory
        self.root = directory / version
        #: Why the cache is off for the rest of the run (None: it is on).
        self.unusable: str | None = None
        self._on_unusable = on_unusable
        self._private: bool | None = None  # whether the directory is ours and 0700, once checked

    def give_up(self, reason: str) -> None:
        """Turn the cache off for the rest of the run, and say ``reason`` (the first time only)."""
        self._private = False
        if self.unusable is not None:
            return
        self.unusable = reason
        if self._on_unusable is not None:
            self._on_unusable(reason)
        else:
            logger.warning("%s", reason)

    def _failed(self, exc: OSError, doing: str) -> None:
        """An I/O error other than a missing file: the cache goes off."""
        where = self.directory
        if exc.filename is not None:
            where = Path(os.fsdecode(exc.filename))
            with contextlib.suppress(ValueError):
                where = where.relative_to(self.directory)
        self.give_up(
            f"cannot use the cache {self.directory}: cannot {doing} {where}: "
            f"{exc.strerror or exc}; going on without it (make the directory yours again, or "
            "point XDG_CACHE_HOME elsewhere)"
        )

    @staticmethod
    def _makedirs(path: Path) -> None:
        """``mkdir -p`` with every directory made here 0700, whatever the umask."""
        missing: list[Path] = []
        current = path
        while not current.is_dir():
            missing.append(current)
            if current.parent == current:
                break
            current = current.parent
        for directory in reversed(missing):
            try:
                directory.mkdir(mode=0o700)
            except FileExistsError:
                continue
            directory.chmod(0o700)

    def ensure_private(self) -> bool:
        """Create the cache directory 0700 (tightening it if it is ours); False if it is not
        private to this user (then no token is written)."""
        if self._private is not None:
            return self._private
        try:
            self._makedirs(self.root)
            for path in (self.directory, self.root):
                info = path.stat()
                if info.st_uid != os.getuid():  # another user's: content only, no token
                    self._private = False
                    return False
                if stat.S_IMODE(info.st_mode) & 0o077:
                    path.chmod(0o700)
            self._private = True
        except OSError as exc:
            self._failed(exc, "create")
        return bool(self._private)

    def write(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically: a 0600 temporary file renamed over it.

        The temporary name is this process's id and a counter (O_EXCL: never another's file), so
        the common case costs an open, a write and a rename, and no directory test."""
        if self._private is None:
            self.ensure_private()
        if self.unusable is not None:
            return
        try:
            fd, temporary = self._temporary(path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(temporary, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except FileNotFoundError:  # another process removed the directory meanwhile: a miss
            logger.debug("cache: %s went away while written", path.name)
        except OSError as exc:
            self._failed(exc, "write")

    def _temporary(self, directory: Path) -> tuple[int, str]:
        """A new 0600 file in ``directory`` (made if missing), opened for writing."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        for _ in range(100):
            name = os.path.join(directory, f".tmp-{os.getpid()}-{next(_TEMPORARY_NUMBERS)}")
            try:
                return os.open(name, flags, 0o600), name
            except FileExistsError:  # left by a crashed process that had our pid
                continue
            except FileNotFoundError:
                self._makedirs(directory)
        raise FileExistsError(f"no free temporary name in {directory}")

    def read(self, path: Path, limit: int) -> bytes | None:
        """The file's bytes; None if it is missing, unreadable or larger than ``limit``."""
        if self.unusable is not None:
            return None
        try:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._failed(exc, "read")
            return None
        return data if len(data) <= limit else None

    def exists(self, path: Path) -> bool:
        """Whether ``path`` is there (when the cache is off, it is: nothing is to be written)."""
        if self.unusable is not None:
            return True
        try:
            os.stat(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            self._failed(exc, "read")
        return True

    def listing(self, directory: Path) -> list[Path]:
        """What ``directory`` holds; nothing if it is missing or not a directory."""
        if self.unusable is not None:
            return []
        try:
            return list(directory.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            self._failed(exc, "list")
            return []

    def drop(self, path: Path) -> None:
        """Delete ``path`` (gone already is as good)."""
        if self.unusable is not None:
            return
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            self._failed(exc, "delete")

    def read_json(self, path: Path) -> dict[str, Any] | None:
        """A JSON object read back; a file that holds none is deleted."""
        data = self.read(path, _MAX_META_BYTES)
        if data is None:
            return None
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            obj = None
        if not isinstance(obj, dict):
            logger.debug("cache: dropping the unreadable %s", path.name)
            self.drop(path)
            return None
        return obj

    def write_json(self, path: Path, obj: Mapping[str, Any]) -> None:
        self.write(path, json.dumps(obj, separators=(",", ":"), sort_keys=True).encode())
