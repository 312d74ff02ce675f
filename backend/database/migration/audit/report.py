"""The audit: prove that every legacy row of a stage-1 run is accounted for, and nothing is off.

:func:`audit` re-reads the legacy DB read-only in keyset pages, reads what each page of rows
became (:mod:`.state`), checks every model once, when the first row that became it is
audited, and ends with the library-wide passes (:mod:`.library`). Rows are handed on one by
one, so a caller that streams them (``model-migrate verify``) keeps memory flat. Nothing is
written anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

from backend.database.migration.audit.files import check_tiers
from backend.database.migration.audit.library import library_problems
from backend.database.migration.audit.records import (
    AuditCounts,
    AuditProblem,
    AuditReport,
    RowAudit,
    build_report,
)
from backend.database.migration.audit.rows import RowAuditor
from backend.database.migration.audit.state import KEYSET, AuditSources, LibraryState
from backend.database.migration.errors import InvalidInputError, NotFoundError
from backend.database.migration.legacy.reader import LegacyReader
from backend.database.migration.legacy.rows import LegacyModel
from backend.database.migration.steps.legacy import LEGACY
from workflows.collector import batch_collections
from workflows.errors import NotFound
from workflows.records import RunInfo
from workflows.store import WorkflowStore

__all__ = ["AuditSources", "RowSink", "audit", "legacy_run"]

RowSink = Callable[[RowAudit], None]
PAGE = 500
"""Legacy rows audited per page (the reader's own batch size)."""


def audit(
    sources: AuditSources,
    run_id: int | None,
    *,
    deep: bool = False,
    on_row: RowSink | None = None,
) -> AuditReport:
    """Audit stage-1 run ``run_id`` (the newest legacy run when None) against the library.

    Each row's audit goes to ``on_row`` as soon as it is complete; without it the rows are
    collected into the report.
    """
    started = time.perf_counter()
    run = legacy_run(sources.store, run_id)
    legacy_db, legacy_images = Path(run.options["legacy_db"]), Path(run.options["images_dir"])
    rows: list[RowAudit] = []
    sink = rows.append if on_row is None else on_row
    reader = LegacyReader(legacy_db, legacy_images, scratch_dir=sources.scratch_dir)
    with reader, sources.sessions() as session, batch_collections():
        state = LibraryState(session, run.id)
        auditor = RowAuditor(state, reader, sources, deep=deep)
        tally, counts, seen = auditor.tally, auditor.counts, auditor.seen
        seen.legacy_tags.update(reader.tag_names())  # every legacy tag is migrated
        v2_rows = reader.iter_models(PAGE, type_of=sources.types.v2_type)  # as as_v2_row does
        for page in _pages(v2_rows, PAGE):
            for row in auditor.page(page):
                tally.add(row)
                sink(row)
        counts.models_checked = len(auditor.owned)
        unowned = _unowned_models(state, auditor.owned, sources.images_dir, counts, deep=deep)
        library = library_problems(state, sources, seen)
    counts.files_listed = seen.entries
    counts.seconds = round(time.perf_counter() - started, 3)
    return build_report(
        tally,
        rows,
        unowned + library,
        counts,
        run_id=run.id,
        legacy_db=str(legacy_db),
        images_dir=str(legacy_images),
        deep=deep,
    )


def legacy_run(store: WorkflowStore, run_id: int | None) -> RunInfo:
    """The stage-1 run to audit (the newest when None)."""
    if run_id is None:
        runs = [r for r in store.runs() if r.kind == LEGACY]
        if not runs:
            raise NotFoundError("no stage-1 run to audit; run `model-migrate legacy` first")
        return max(runs, key=lambda r: r.id)
    try:
        run = store.run(run_id)
    except NotFound as exc:
        raise NotFoundError(f"no migration run with id {run_id}") from exc
    if run.kind != LEGACY:
        raise InvalidInputError(f"run {run_id} is a {run.kind} run; audit its stage-1 run")
    return run


def _pages(rows: Iterable[LegacyModel], size: int) -> Iterator[list[LegacyModel]]:
    it = iter(rows)
    while page := list(islice(it, size)):
        yield page


def _unowned_models(
    state: LibraryState, owned: set[str], images_dir: Path, counts: AuditCounts, *, deep: bool
) -> list[AuditProblem]:
    """Tier files of the models no legacy row of the run became (sizes from their high tier)."""
    out: list[AuditProblem] = []
    if state.model_count() == len(owned):
        return out  # every model was checked with a row (owned ones are in the library)
    hashes = (sha for sha in state.model_hashes() if sha not in owned)
    while batch := list(islice(hashes, KEYSET)):
        for sha, count in sorted(state.images_counts(batch).items()):
            if count is None:
                continue
            counts.models_checked += 1
            tiers = check_tiers(images_dir, sha, count, {}, deep=deep, legacy_id=None)
            counts.tier_files_checked += tiers.checked
            counts.tier_files_decoded += tiers.decoded
            out += tiers.problems
    return out
