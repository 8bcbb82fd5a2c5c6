"""A local file that holds log records while the store cannot take them.

The spool is a JSON-lines file: one serialised record per line.  Lines are
appended under a lock, from the writer thread when a batch fails and from the
request path when the in-memory queue is full, so every append is one short
``write`` and ``flush``.

Replaying never reads the file that is being appended to.  `Spool.begin_replay`
first renames it to ``<name>.replay``; new records then start a fresh spool
file, and the replay file is deleted only once all its records are committed.
A replay file found at start-up is what a crashed process left behind, and it
is replayed before the spool proper.  Replaying twice is harmless because the
store ignores rows it already holds.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

SPOOL_FILENAME = "log-spool.jsonl"
"""The spool's usual file name, next to the database in the data directory."""


class Spool:
    """An append-only file of serialised log records waiting for the store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replay_path = path.with_name(path.name + ".replay")
        self._lock = threading.Lock()
        self._file: BinaryIO | None = None
        self._has_data: bool | None = None  # unknown until first looked at

    def append(self, lines: Sequence[bytes]) -> None:
        """Append ``lines`` (serialised records, without newlines) and flush.

        Raises `OSError` when the file cannot be written; the lines may then
        be partly written, and the next append starts on a fresh line.
        """
        if not lines:
            return
        data = b"\n".join(lines) + b"\n"
        with self._lock:
            file = self._file or self._open()
            try:
                file.write(data)
                file.flush()
            except OSError:
                self._close_file()
                raise
            self._has_data = True

    def pending(self) -> bool:
        """Whether records wait in the spool or in a replay file."""
        with self._lock:
            return self._main_has_data() or self.replay_path.exists()

    def begin_replay(self) -> SpoolReplay | None:
        """Open the records to replay next, or return None if there are none.

        A replay file left by an earlier run comes first; otherwise the spool
        file itself is renamed to the replay file and opened.
        """
        with self._lock:
            if not self.replay_path.exists():
                if not self._main_has_data():
                    return None
                self._close_file()
                self._has_data = False
                try:
                    os.replace(self.path, self.replay_path)
                except FileNotFoundError:  # removed by hand
                    return None
            return SpoolReplay(self.replay_path)

    def close(self) -> None:
        """Close the append handle; a later append opens it again."""
        with self._lock:
            self._close_file()

    def _open(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        file = open(self.path, "ab")  # noqa: SIM115 - kept open across appends
        # A crash (or a full disk) may have left half a line: never glue the
        # next record onto it.
        if file.tell() > 0 and not _ends_with_newline(self.path):
            file.write(b"\n")
        self._file = file
        return file

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError as exc:
                logger.warning("closing the log spool %s failed: %s", self.path, exc)
            self._file = None

    def _main_has_data(self) -> bool:
        if self._has_data is None:
            self._has_data = _size(self.path) > 0
        return self._has_data


class SpoolReplay:
    """Reads a replay file line by line, remembering what is committed.

    `read` hands out lines; `commit` marks everything read so far as stored;
    `rewind` goes back to the last commit after a failed write.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "rb")  # noqa: SIM115 - closed by finish()/close()
        self._committed = 0
        self._line_start = 0

    def read(self) -> bytes | None:
        """The next non-blank line without its newline, or None at the end."""
        while True:
            self._line_start = self._file.tell()
            line = self._file.readline()
            if not line:
                return None
            line = line.rstrip(b"\r\n")
            if line.strip():
                return line

    def unread(self) -> None:
        """Give back the line `read` returned last."""
        self._file.seek(self._line_start)

    def commit(self) -> None:
        """Everything read so far is in the store."""
        self._committed = self._file.tell()

    def rewind(self) -> None:
        """Go back to the last commit; those lines will be read again."""
        self._file.seek(self._committed)

    def finish(self) -> None:
        """Close and delete the replay file: all its records are stored."""
        self._file.close()
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the file and keep it, to be replayed again later."""
        self._file.close()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"
