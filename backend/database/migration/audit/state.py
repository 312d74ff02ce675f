"""What the audit compares, read a page at a time: items, models, pending rows, decisions.

Nothing here writes. The audited run's items, their models, pending rows, tags and ``resolve``
events are read per page of legacy rows (keyed ``IN`` queries on primary keys and unique
indexes). Only the items that can touch a model from outside its page — decided items and the
stage-2 items of the run's staged rows — are read up front (:class:`Others`), so memory grows
with those, not with the library or with other runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.database.migration.artifacts import Artifacts
from backend.database.migration.audit.keyed import ITEM_COLUMNS, keyed_reads
from backend.database.migration.audit.records import Decision
from backend.database.migration.conflicts import WRITING_STRATEGIES
from backend.database.migration.records import MetaJson, PendingMetaJson, normalize_tag
from backend.database.migration.steps.promotion import PROMOTION
from backend.database.migration.types import TypeMap
from backend.database.models import Model, ModelTag, PendingImport, PendingModelTag, Tag
from backend.database.v2schema import UNTYPED
from workflows.machine import WORKING
from workflows.store import WorkflowStore
from workflows.tables import MigrationEvent, MigrationItem

WORKING_STATES = frozenset(s.value for s in WORKING)
WRITING = frozenset(s.value for s in WRITING_STRATEGIES)
KEYSET = 1000
"""Rows per keyset page of a library-wide pass."""


@dataclass(frozen=True)
class AuditSources:
    """What the audit reads: the library's sessions, the workflow store and image folders."""

    sessions: sessionmaker[Session]
    store: WorkflowStore
    images_dir: Path
    pending_dir: Path
    scratch_dir: Path | None = None
    """Where the legacy reader may put a private snapshot of the legacy DB."""
    types: TypeMap = field(default_factory=TypeMap)
    """The v2 tab of each legacy type: rows are compared with the type they get."""


@dataclass
class ItemRow:
    """A workflow item as the audit needs it."""

    id: int
    run_id: int
    kind: str
    source_key: str
    sha256: str | None
    state: str
    failed_from_state: str | None
    strategy: str | None
    error_code: str | None
    error: str | None
    artifacts: dict[str, Any]
    warnings: list[dict[str, Any]]
    image_seqs: list[int] = field(init=False)
    """Seqs this item published (stage 1 or 2); read-only."""
    image_mode: str | None = field(init=False)
    """How a stage-1 item published: ``new``, ``replace`` (same source) or ``append``."""

    def __post_init__(self) -> None:
        # Read once: the checks ask for them several times per row.
        view = Artifacts.of(self)
        self.image_seqs = view.image_seqs
        self.image_mode = view.image_mode

    @property
    def combines(self) -> bool:
        """Whether the item wrote a second source into a model (a decided override/merge)."""
        if self.strategy not in WRITING or self.state in ("conflicted", "ignored"):
            return False
        return self.state != "failed" or self.failed_from_state != "pending"


@dataclass
class Target:
    """A library model (``key`` its sha256) or pending row (``key`` its id) with its tags;
    ``meta`` is None when its meta_json does not parse."""

    key: Any
    path: str
    name: str
    type: str
    size_bytes: int | None
    created_at: int
    meta: Any
    tags: set[str] = field(default_factory=set)


@dataclass
class Others:
    """Items that reach a model from outside its page, read once before the pages: decided
    items (override/merge/ignore, any run) and the stage-2 items of the run's staged rows."""

    by_sha: dict[str, list[ItemRow]] = field(default_factory=dict)
    promotions: dict[str, ItemRow] = field(default_factory=dict)
    """The newest stage-2 item per pending id."""
    every: Callable[[str], list[ItemRow]] = lambda sha256: []
    """Every item of any run with a sha256 (an unindexed query: only for the rare model that
    holds more sets than expected, or that a row of the run merged into)."""


@dataclass
class Page:
    """One page of legacy rows' worth of library state."""

    items: dict[str, ItemRow]
    """The audited run's items by source key (legacy id)."""
    models: dict[str, Target]
    pending: dict[int, Target]
    decisions: dict[int, Decision]
    """The latest ``resolve`` decision per item id."""
    others: Others
    _by_sha: dict[str, list[ItemRow]] | None = None

    def by_sha(self, sha256: str) -> list[ItemRow]:
        """Every item (any run) that carries this sha256, oldest first."""
        if self._by_sha is None:
            self._by_sha = {}
            for item in self.items.values():
                if item.sha256 is not None:
                    self._by_sha.setdefault(item.sha256, []).append(item)
            for sha in self._by_sha:
                theirs = self.others.by_sha.get(sha, [])
                if theirs:
                    mine = {i.id for i in self._by_sha[sha]}
                    merged = self._by_sha[sha] + [i for i in theirs if i.id not in mine]
                    self._by_sha[sha] = sorted(merged, key=lambda i: i.id)
        found = self._by_sha.get(sha256)
        return found if found is not None else self.others.by_sha.get(sha256, [])

    def every_item(self, sha256: str) -> list[ItemRow]:
        """Every item (any run) that carries this sha256, oldest first, read now."""
        return self.others.every(sha256)

    def combined_by(self, sha256: str) -> str | None:
        """``override``/``merge`` when an item combined a second source into this model."""
        for item in self.by_sha(sha256):  # a loop: no generator for the usual lone item
            if item.combines:
                return item.strategy
        return None


def _item(r: Sequence[Any]) -> ItemRow:
    item_id, run_id, kind, key, sha, state, failed_from, strategy, code, error, art, warns = r
    return ItemRow(
        item_id,
        run_id,
        kind,
        key,
        sha,
        state,
        failed_from,
        strategy,
        code,
        error,
        (_json(art) if art else None) or {},
        (None if not warns or warns == "[]" else _json(warns)) or [],
    )


def _json(text: str) -> Any:
    """JSON text parsed by pydantic-core (~3x quicker than ``json.loads``), or by ``json.loads``
    when it refuses the text (a lone surrogate escape, e.g. a file name that was not UTF-8)."""
    try:
        return from_json(text)
    except ValueError:
        return json.loads(text)


def _parse(model: type[MetaJson] | type[PendingMetaJson], text: str | None) -> Any:
    """The meta_json as ``model``, or None when it is not valid. Its validator is called
    directly: ``model_validate_json``'s own work costs ~0.8 µs a model, ~40 % of the parse."""
    try:
        return model.__pydantic_validator__.validate_json(text or "{}")
    except ValidationError:
        return None


def _chunks(values: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class LibraryState:
    """Reads of the library and the workflow history for one audit (one session)."""

    def __init__(self, session: Session, run_id: int) -> None:
        self.session = session
        self.db = session.connection()  # Core rows: these reads need no ORM objects
        self.run_id = run_id
        self.reads = keyed_reads(self.db)
        self.others = self._others()

    def _others(self) -> Others:
        c = MigrationItem
        staged = select(c.artifacts).where(c.run_id == self.run_id, c.status == "staged")
        pending_ids = {
            str(a.get("pending_id")) for (a,) in self.db.execute(staged) if a is not None
        }
        wanted = (c.kind == PROMOTION) | (c.strategy.is_not(None) & c.sha256.is_not(None))
        stmt = select(*ITEM_COLUMNS).where(wanted).order_by(c.id)
        out = Others(every=self._every)
        for row in self.db.execute(stmt.execution_options(yield_per=KEYSET)):
            item = _item(row)
            if item.kind == PROMOTION:
                if item.source_key not in pending_ids:
                    continue
                out.promotions[item.source_key] = item  # ordered by id: the newest wins
            if item.sha256 is not None:
                out.by_sha.setdefault(item.sha256, []).append(item)
        return out

    def _every(self, sha256: str) -> list[ItemRow]:
        c = MigrationItem
        stmt = select(*ITEM_COLUMNS).where(c.sha256 == sha256).order_by(c.id)
        return [_item(r) for r in self.db.execute(stmt)]

    def working(self) -> bool:
        """Whether any item of any run is still being worked on (staging may be in use)."""
        stmt = select(exists().where(MigrationItem.status.in_(sorted(WORKING_STATES))))
        return bool(self.db.scalar(stmt))

    def page(self, legacy_ids: Sequence[int]) -> Page:
        """Everything the rows with these legacy ids became, in a few keyed queries."""
        keys = [str(i) for i in legacy_ids]
        params = {"run": self.run_id, "keys": self.reads.keys(keys)}
        found = self.db.execute(self.reads.run_items, params).all()
        items = {r.source_key: r for r in map(_item, found)}
        staged = (Artifacts.of(i).pending_id for i in items.values() if i.state == "staged")
        pending_ids = sorted(int(p) for p in staged if p is not None)
        promos = [p for p in map(str, pending_ids) if p in self.others.promotions]
        shas = {i.sha256 for i in items.values() if i.sha256}
        shas |= {self.others.promotions[p].sha256 or "" for p in promos}
        conflicts = (Artifacts.of(i).conflict for i in items.values())
        shas |= {str(c.sha256 or "") for c in conflicts if c is not None}
        shas.discard("")
        decided = [*items.values(), *(self.others.promotions[p] for p in promos)]
        item_ids = [i.id for i in decided if i.strategy is not None]  # resolve sets it
        return Page(
            items=items,
            models=self.models(sorted(shas)),
            pending=self._pending(pending_ids),
            decisions=self._decisions(item_ids),
            others=self.others,
        )

    def models(self, shas: Sequence[str]) -> dict[str, Target]:
        """The models with these hashes, with their tags."""
        return self._targets(shas, self.reads.models, MetaJson)

    def images_counts(self, shas: Sequence[str]) -> dict[str, int | None]:
        """images_count per model hash (None when its meta_json does not parse)."""
        out: dict[str, int | None] = {}
        for chunk in _chunks(shas):
            stmt = select(Model.sha256, Model.meta_json).where(Model.sha256.in_(chunk))
            for sha, meta in self.db.execute(stmt).all():
                parsed = _parse(MetaJson, meta)
                out[sha] = None if parsed is None else parsed.images_count
        return out

    def _pending(self, ids: Sequence[int]) -> dict[int, Target]:
        return self._targets(ids, self.reads.pending, PendingMetaJson)

    def _targets(
        self, keys: Sequence[Any], statements: tuple[Any, Any], meta: type[Any]
    ) -> dict[Any, Target]:
        rows, links = statements
        out: dict[Any, Target] = {}
        for chunk in _chunks(keys):
            params = {"keys": self.reads.keys(chunk)}
            for r in self.db.execute(rows, params).all():
                # Columns the v2 app may leave NULL are read as empty values.
                out[r[0]] = Target(
                    r[0], r[1], r[2] or "", r[3] or UNTYPED, r[4], r[5] or 0, _parse(meta, r[6])
                )
            for key, tag in self.db.execute(links, params).all():
                if key in out:
                    out[key].tags.add(normalize_tag(tag))
        return out

    def _decisions(self, item_ids: Sequence[int]) -> dict[int, Decision]:
        e = MigrationEvent
        out: dict[int, Decision] = {}
        for chunk in _chunks(item_ids):
            stmt = (
                select(e.item_id, e.run_id, e.at, e.detail)
                .where(e.trigger == "resolve", e.item_id.in_(chunk))
                .order_by(e.item_id, e.seq)
            )
            for item_id, run_id, at, detail in self.db.execute(stmt).all():
                strategy = str((detail or {}).get("strategy", "?"))
                stamp = datetime.fromtimestamp(float(at), UTC).isoformat(timespec="seconds")
                out[item_id] = Decision(
                    item_id=item_id, run_id=run_id, strategy=strategy, at=float(at), at_iso=stamp
                )
        return out

    # --- library-wide passes, keyset-paged -------------------------------------------------

    def _keyset(self, stmt: Any, key: Any) -> Iterator[Any]:
        last: Any = None
        while True:
            page = stmt if last is None else stmt.where(key > last)
            rows = self.db.execute(page.order_by(key).limit(KEYSET)).all()
            yield from rows
            if len(rows) < KEYSET:
                return
            last = rows[-1][0]

    def model_hashes(self) -> Iterator[str]:
        """Every model's sha256, in order."""
        return (r[0] for r in self._keyset(select(Model.sha256), Model.sha256))

    def run_item_count(self) -> int:
        """How many items the audited run has."""
        stmt = select(func.count()).where(MigrationItem.run_id == self.run_id)
        return int(self.db.scalar(stmt) or 0)

    def model_count(self) -> int:
        """How many models the library has."""
        return int(self.db.scalar(select(func.count()).select_from(Model)) or 0)

    def run_items(self) -> Iterator[tuple[int, str]]:
        """(item id, source key) of every item of the audited run."""
        c = MigrationItem
        stmt = select(c.id, c.source_key).where(c.run_id == self.run_id)
        return ((r[0], r[1]) for r in self._keyset(stmt, c.id))

    def pending_rows(self) -> Iterator[tuple[int, str, list[str]]]:
        """(id, path, original names) of every pending row."""
        p = PendingImport
        for pid, path, meta in self._keyset(select(p.id, p.path, p.meta_json), p.id):
            parsed = _parse(PendingMetaJson, meta)
            yield pid, path, list(parsed.images) if parsed is not None else []

    def unused_tags(self) -> list[tuple[int, str]]:
        """Tags no model and no pending model uses."""
        stmt = select(Tag.id, Tag.name).where(
            Tag.id.not_in(select(ModelTag.tag_id)), Tag.id.not_in(select(PendingModelTag.tag_id))
        )
        return [(tid, name) for tid, name in self.db.execute(stmt.order_by(Tag.id))]


def tag_names(tags: Iterable[str]) -> set[str]:
    """Tag names in the form they are matched by."""
    return {normalize_tag(t) for t in tags}
