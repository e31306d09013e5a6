"""The files that make the local server's state durable (spec §5): a snapshot and the journals
written after it, in TASKQ_DATA_DIR. Each file holds one JSON entry a line; this module knows
the files, not what the entries mean (durable.py does).

    snapshot.jsonl     {"journal": N}, then the state at the time it was taken
    journal.<n>.jsonl  what happened after it, for every n >= N, in order

A snapshot replaces the journals it covers in one atomic step (write a temporary file, fsync,
rename, fsync the folder): a crash at any point leaves either the old snapshot with its journals
or the new one; journals below N are leftovers, deleted at the next start.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

SNAPSHOT = "snapshot.jsonl"
JOURNAL = re.compile(r"journal\.(\d+)\.jsonl")


class DataDirError(Exception):
    """The data folder cannot be used: locked by another server, or a file is damaged."""


def _line(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def lock_folder(folder: Path) -> Any:
    """Creates the folder and takes its lock for the life of the process (the returned file must
    stay open): two servers appending to one journal would each replay the other's writes."""
    folder.mkdir(parents=True, exist_ok=True)
    handle = (folder / "lock").open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        handle.close()
        raise DataDirError(f"{folder} is in use by another taskq server") from e
    return handle


def read_entries(path: Path) -> Iterator[dict[str, Any]]:
    """The entries of one file, in order. A last line without its newline is a write that a
    kill cut short: never acknowledged, so it is dropped, and cut from the file so that the next
    append starts a line of its own. Any other unreadable line is damage, never skipped."""
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1
    if complete < len(data):
        with path.open("r+b") as handle:
            handle.truncate(complete)
            os.fsync(handle.fileno())
    for number, line in enumerate(data[:complete].splitlines(), start=1):
        try:
            yield json.loads(line)
        except ValueError as e:
            raise DataDirError(f"{path}, line {number}: not a journal entry ({e})") from e


def journal_numbers(folder: Path) -> list[int]:
    found = (JOURNAL.fullmatch(p.name) for p in folder.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def journal_path(folder: Path, number: int) -> Path:
    return folder / f"journal.{number}.jsonl"


def write_snapshot(folder: Path, first_journal: int, entries: Iterable[dict[str, Any]]) -> None:
    """Atomically replaces the snapshot; journals below `first_journal` are then covered by it
    and deleted."""
    temporary = folder / (SNAPSHOT + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(_line({"journal": first_journal}))
        for entry in entries:
            handle.write(_line(entry))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, folder / SNAPSHOT)
    fsync_folder(folder)
    for number in journal_numbers(folder):
        if number < first_journal:
            journal_path(folder, number).unlink()


class Journal:
    """One journal file, appended to. `append` returns once the entry is on disk: the caller
    acknowledges nothing before that."""

    def __init__(self, folder: Path, number: int) -> None:
        self.folder, self.number = folder, number
        self._file = journal_path(folder, number).open("ab")
        fsync_folder(folder)  # the new file's name is durable too

    def append(self, entry: dict[str, Any]) -> None:
        self._file.write(_line(entry))
        self._file.flush()
        os.fsync(self._file.fileno())

    def size(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()
