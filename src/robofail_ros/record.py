"""The crash-safe audit record: one JSON line per finished episode, appended and flushed at once.

An audit may run for an hour across processes that can die. Each episode is
written the moment it finishes (write, flush, fsync), so a crash loses at most the
episode in flight; a line cut off by a power loss is reported and skipped on load,
never allowed to poison the rest of the log.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from robofail_ros.episode import EpisodeRecord

log = logging.getLogger(__name__)

LOG_NAME = "episodes.jsonl"
#: The lock file an audit holds in its folder while it runs (see `FolderLock`).
LOCK_NAME = ".robofail.lock"


class FolderBusyError(RuntimeError):
    """Another live process holds the audit folder; a second writer would log every episode twice."""


class FolderLock:
    """An exclusive OS lock (flock) on an audit folder, held for the whole audit.

    flock belongs to the open file, so the kernel releases it when the holder exits however it exits (crash,
    SIGKILL): a stale lock file is harmless, and nothing needs cleaning up by hand. The holder writes its pid
    and command line into the file, so a refused second audit can say who has the folder.
    """

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self._file = None

    def acquire(self) -> "FolderLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise FolderBusyError(f"{self.path.parent} is in use by {holder}; wait for it to finish, stop it, "
                                  "or choose another output folder") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} ({' '.join(sys.argv) or sys.executable})\n")
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file releases the flock
            self._file = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class LoadedLog:
    """What a log file held: its header, the episodes, the adversary snapshots, and any damaged lines."""

    header: dict[str, Any] | None = None
    episodes: list[EpisodeRecord] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    damaged_lines: list[int] = field(default_factory=list)


def load_log(path: Path) -> LoadedLog:
    """Read a log, skipping (and reporting) lines that are truncated or malformed."""
    out = LoadedLog()
    if not path.exists():
        return out
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                kind = entry.pop("type")
                if kind == "header":
                    out.header = entry
                elif kind == "episode":
                    out.episodes.append(EpisodeRecord.from_json(entry))
                elif kind == "snapshot":
                    out.snapshots.append(entry)
                else:
                    raise ValueError(f"unknown entry type {kind!r}")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                out.damaged_lines.append(lineno)
                log.warning("%s:%d: skipping damaged line (%s)", path, lineno, exc)
    return out


class AuditLog:
    """Append-only writer of one audit's JSONL record."""

    def __init__(self, path: Path, on_snapshot: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.path = Path(path)
        self.on_snapshot = on_snapshot
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair_tail()
        self._file = self.path.open("a", encoding="utf-8")

    def _repair_tail(self) -> None:
        """Terminate a last line cut off mid-write, so the next record starts on a line of its own."""
        if self.path.exists() and self.path.stat().st_size > 0:
            with self.path.open("rb+") as f:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")

    def _write(self, entry: dict[str, Any]) -> None:
        self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def write_header(self, header: dict[str, Any]) -> None:
        self._write({"type": "header", **header})

    def append(self, record: EpisodeRecord) -> None:
        self._write({"type": "episode", **record.to_json()})

    def append_many(self, records: Iterable[EpisodeRecord]) -> None:
        for r in records:
            self.append(r)

    def snapshot(self, data: dict[str, Any]) -> None:
        """Record the adversary's state (e.g. π over perturbations) at a point of the audit."""
        self._write({"type": "snapshot", **data})
        if self.on_snapshot is not None:
            self.on_snapshot(data)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "AuditLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def episode_key(seed: int, perturbations: Iterable[str],
                scene: Mapping[str, float] | None = None) -> tuple[int, tuple[str, ...], tuple | None]:
    """What makes two episodes the same experiment: the initial state, the perturbations and the scene applied."""
    return int(seed), tuple(perturbations), None if scene is None else tuple(sorted(scene.items()))


class CompletedEpisodes:
    """Episodes already in the log, so a resumed audit re-uses them instead of running them again."""

    def __init__(self, records: Iterable[EpisodeRecord]) -> None:
        self._pending: dict[tuple, list[EpisodeRecord]] = {}
        self.counts: Counter = Counter()
        for r in records:
            self._pending.setdefault(episode_key(r.seed, r.perturbations, r.scene), []).append(r)
            self.counts[episode_key(r.seed, r.perturbations, r.scene)] += 1

    def take(self, seed: int, perturbations: Iterable[str],
             scene: Mapping[str, float] | None = None) -> EpisodeRecord | None:
        """Hand out (once) a logged episode of the same experiment, or None."""
        stack = self._pending.get(episode_key(seed, perturbations, scene))
        return stack.pop(0) if stack else None

    def __len__(self) -> int:
        return sum(len(v) for v in self._pending.values())


class Recorder:
    """The single writer of an audit's episodes: logs each new record once, in arrival order.

    Episodes re-used from a resumed log come back from the workers with ids already
    recorded; they are recognised here and never written or counted twice.
    """

    def __init__(self, audit_log: AuditLog, existing: Iterable[EpisodeRecord] = (),
                 on_record: Callable[[EpisodeRecord], None] | None = None) -> None:
        self.log = audit_log
        self.records: list[EpisodeRecord] = list(existing)
        self._ids = {r.episode_id for r in self.records}
        self.on_record = on_record

    def __contains__(self, episode_id: str) -> bool:
        return episode_id in self._ids

    def add(self, record: EpisodeRecord) -> bool:
        if record.episode_id in self._ids:
            return False
        self.log.append(record)
        self._ids.add(record.episode_id)
        self.records.append(record)
        if self.on_record is not None:
            self.on_record(record)
        return True

    def adopt(self, logged: Iterable[EpisodeRecord]) -> None:
        """Keep the logged records not yet kept, without logging them again.

        A stop (Ctrl-C) can arrive inside `add`, after the log has the episode and before this recorder does:
        the log is the record of truth, so a stopped audit adopts it before reporting.
        """
        for r in logged:
            if r.episode_id not in self._ids:
                self._ids.add(r.episode_id)
                self.records.append(r)

    def count(self, searcher: str) -> int:
        return sum(1 for r in self.records if r.searcher == searcher)

    def of(self, searcher: str) -> list[EpisodeRecord]:
        return [r for r in self.records if r.searcher == searcher]
