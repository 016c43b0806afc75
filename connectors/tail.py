"""The file side of ``tail -F`` for queue_log: complete lines with their byte offsets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

CHUNK = 64 * 1024
MAX_LINE = 16 * 1024  # real lines are < 1 KiB; longer "lines" are refused, not buffered
Lines = list[tuple[int, int, bytes]]  # (first byte, byte after it, the line without "\n")


class Tail:
    """The file side of ``tail -F`` (blocking calls: run them in a thread)."""

    def __init__(self, path: Path):
        self.path = path
        self.file: BinaryIO | None = None
        self.inode = 0
        self.read_to = 0  # offset just past the last byte read
        self.partial = b""  # a last line still waiting for its newline

    def open(self, inode: int | None, offset: int) -> bool:
        """Open at ``offset`` if the file still is ``inode``, else at 0; False while missing."""
        try:
            file = self.path.open("rb")
        except FileNotFoundError:
            return False
        st = os.fstat(file.fileno())
        start = offset if st.st_ino == inode and 0 <= offset <= st.st_size else 0
        if start:  # a reused inode: the checkpoint must still fall just after a newline
            file.seek(start - 1)
            start = start if file.read(1) == b"\n" else 0
        file.seek(start)
        self.file, self.inode, self.read_to, self.partial = file, st.st_ino, start, b""
        return True

    def read(self) -> Lines | None:
        """The complete lines of the next chunk; None at the end of the file."""
        assert self.file is not None
        data = self.file.read(CHUNK)
        if not data:
            return None
        offset = self.read_to - len(self.partial)
        self.read_to += len(data)
        *complete, self.partial = (self.partial + data).split(b"\n")
        out = []
        for raw in complete:
            out.append((offset, offset + len(raw) + 1, raw))
            offset += len(raw) + 1
        if len(self.partial) > MAX_LINE:
            out.append((offset, self.read_to, self.partial))
            self.partial = b""
        return out

    def rest(self) -> Lines:
        """Everything left in a rotated file, a last line without newline included."""
        out: Lines = []
        while (chunk := self.read()) is not None:
            out += chunk
        if self.partial:
            out.append((self.read_to - len(self.partial), self.read_to, self.partial))
            self.partial = b""
        return out

    def change(self) -> str | None:
        """``"rotated"`` (another file at the path), ``"truncated"`` or None."""
        assert self.file is not None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:  # mid-rotation: keep reading the old file
            return None
        if st.st_ino != self.inode:
            return "rotated"
        return "truncated" if os.fstat(self.file.fileno()).st_size < self.read_to else None

    def rewind(self) -> None:
        assert self.file is not None
        self.file.seek(0)
        self.read_to, self.partial = 0, b""

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
