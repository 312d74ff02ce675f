"""Library-wide audit checks: files, pending originals, tags and items that nothing explains.

Each is a streamed pass (the images folder one entry at a time, models, pending rows and items
in keyset pages); what is kept is bounded by the pending folder and the tag table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from backend.database.migration.audit.catalogue import problem
from backend.database.migration.audit.files import Entry, scan_images
from backend.database.migration.audit.records import AuditProblem
from backend.database.migration.audit.state import AuditSources, LibraryState, tag_names
from backend.database.migration.legacy.reader import INVALID_ID_PREFIX

_BATCH = 1000
"""Tier files looked up per query of their models."""


@dataclass
class LibraryChecks:
    """What the row pass learned that the library-wide checks need."""

    legacy_ids: set[int] = field(default_factory=set)
    legacy_tags: set[str] = field(default_factory=set)
    staged_here: set[int] = field(default_factory=set)
    """Pending ids staged by the audited run (their originals are checked with their row)."""
    entries: int = 0
    items: int = 0
    """Items of the run that a legacy row was matched with."""


def library_problems(
    state: LibraryState, sources: AuditSources, seen: LibraryChecks
) -> list[AuditProblem]:
    """Everything in the library that no legacy row, promotion or pending row explains."""
    working = state.working()
    files: list[AuditProblem] = []
    leftovers: list[AuditProblem] = []
    pending_files: set[str] = set()
    tiers: list[Entry] = []
    for entry in scan_images(sources.images_dir, sources.pending_dir):
        seen.entries += 1
        if entry.kind == "tier":
            tiers.append(entry)
            if len(tiers) >= _BATCH:
                files += _tier_files(state, tiers)
                tiers = []
        elif entry.kind == "unexpected":
            files.append(problem("unexpected_file", file=entry.name))
        elif entry.kind == "pending":
            pending_files.add(entry.name.partition("/")[2])
        elif not working:  # a running step may own temp and staging files
            code = "staging_leftover" if entry.kind == "staging" else "temp_file_leftover"
            leftovers.append(problem(code, file=entry.name))
    files += _tier_files(state, tiers)
    return [
        *sorted(files, key=lambda p: (p.code == "unexpected_file", p.file or "")),
        *sorted(leftovers, key=lambda p: p.file or ""),
        *_pending(state, sources.pending_dir, pending_files, seen.staged_here, working),
        *_tags(state, tag_names(seen.legacy_tags)),
        *_vanished(state, seen),
    ]


def _tier_files(state: LibraryState, entries: Iterable[Entry]) -> list[AuditProblem]:
    entries = list(entries)
    counts = state.images_counts(sorted({e.sha256 for e in entries}))
    out: list[AuditProblem] = []
    for e in entries:
        if e.sha256 not in counts:
            out.append(problem("orphan_image", file=e.name, sha=e.sha256))
            continue
        count = counts[e.sha256]
        if count is not None and e.seq >= count:
            out.append(
                problem("tier_beyond_count", file=e.name, sha=e.sha256, count=count, last=count - 1)
            )
    return out


def _pending(
    state: LibraryState,
    pending_dir: Path,
    files: set[str],
    staged_here: set[int],
    working: bool,
) -> list[AuditProblem]:
    out: list[AuditProblem] = []
    referenced: set[str] = set()
    for pid, path, names in state.pending_rows():
        referenced.update(names)
        if pid in staged_here:
            continue  # checked with its legacy row
        for name in names:
            if not (pending_dir / name).is_file():
                out.append(
                    problem(
                        "pending_original_missing",
                        file=f"pending/{name}",
                        label=f"pending model {pid} ({path})",
                        name=name,
                        origin="a backup",
                    )
                )
    if not working:
        out += [
            problem("pending_original_orphan", file=f"pending/{name}")
            for name in sorted(files - referenced)
        ]
    return out


def _tags(state: LibraryState, legacy_tags: set[str]) -> list[AuditProblem]:
    return [
        problem("tag_unexplained", name=repr(name), tid=tid)
        for tid, name in state.unused_tags()
        if tag_names([name]).isdisjoint(legacy_tags)
    ]


def _vanished(state: LibraryState, seen: LibraryChecks) -> list[AuditProblem]:
    if seen.items == state.run_item_count():
        return []  # every item of the run was matched with its legacy row
    legacy_ids = seen.legacy_ids
    return [
        problem("legacy_id_invalid", item=item_id, key=repr(key.removeprefix(INVALID_ID_PREFIX)))
        if key.startswith(INVALID_ID_PREFIX)
        else problem("legacy_row_vanished", item=item_id, run=state.run_id, key=key)
        for item_id, key in state.run_items()
        if not key.isdigit() or int(key) not in legacy_ids
    ]
