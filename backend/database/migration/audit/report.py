"""The audit: prove that every legacy row of a stage-1 run is accounted for, and nothing is off.

``audit(service, run_id)`` re-reads the legacy DB read-only (one pass), reads the library and
the workflow history in bulk (:mod:`audit_state`), lists the image folders once
(:mod:`audit_files`) and compares. Nothing is written anywhere.

Tiers are checked by name (the listing), by WebP header and by size without decoding pixels;
``deep=True`` also decodes every tier.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from backend.database.migration.audit.checks import (
    accounting_problem,
    field_problems,
    good_refs,
    pending_problems,
    split_warnings,
    tag_problems,
)
from backend.database.migration.audit.files import check_tiers, list_images
from backend.database.migration.audit.library import library_problems
from backend.database.migration.audit.records import (
    RERUN,
    AuditCounts,
    AuditProblem,
    AuditReport,
    ConflictWith,
    NeedsDecision,
    RowAudit,
    build_report,
)
from backend.database.migration.audit.state import ItemRow, LibraryState, load_state
from backend.database.migration.errors import InvalidInputError, NotFoundError
from backend.database.migration.legacy.reader import LegacyReader
from backend.database.migration.legacy.rows import LegacyModel
from workflows.errors import NotFound
from workflows.records import RunInfo

if TYPE_CHECKING:
    from backend.database.migration.service import MigrationService

LEGACY_KIND = "legacy"


def audit(service: MigrationService, run_id: int | None, *, deep: bool = False) -> AuditReport:
    """Audit stage-1 run ``run_id`` (the newest legacy run when None) against the library."""
    started = time.perf_counter()
    run = _legacy_run(service, run_id)
    options = run.options
    legacy_db, legacy_images = Path(options["legacy_db"]), Path(options["images_dir"])
    images_dir = service.settings.images_dir
    listing = list_images(images_dir)
    with service.sessions() as session:
        state = load_state(session, run.id, listing)
    auditor = _Auditor(state, images_dir, deep=deep)
    with LegacyReader(legacy_db, legacy_images, scratch_dir=service.scratch_dir) as reader:
        for row in reader.iter_models():
            auditor.row(row)
    auditor.finish_models()
    seen = {str(r.legacy_id) for r in auditor.rows}
    lib_problems = library_problems(state, auditor.legacy_tags, seen, run.id)
    counts = auditor.counts
    counts.files_listed = listing.entries
    counts.seconds = round(time.perf_counter() - started, 3)
    return build_report(
        run_id=run.id,
        legacy_db=str(legacy_db),
        images_dir=str(legacy_images),
        deep=deep,
        rows=auditor.rows,
        needs=auditor.needs,
        library_problems=auditor.orphans + lib_problems,
        counts=counts,
    )


def _legacy_run(service: MigrationService, run_id: int | None) -> RunInfo:
    if run_id is None:
        runs = [r for r in service.store.runs() if r.kind == LEGACY_KIND]
        if not runs:
            raise NotFoundError("no stage-1 run to audit; run `model-migrate legacy` first")
        return max(runs, key=lambda r: r.id)
    try:
        run = service.store.run(run_id)
    except NotFound as exc:
        raise NotFoundError(f"no migration run with id {run_id}") from exc
    if run.kind != LEGACY_KIND:
        raise InvalidInputError(f"run {run_id} is a {run.kind} run; audit its stage-1 run")
    return run


def _problem(code: str, message: str, fix: str, lid: int | None = None) -> AuditProblem:
    return AuditProblem(code=code, message=message, fix=fix, legacy_id=lid)


class _Auditor:
    """Builds one RowAudit per legacy row, then checks the tiers of every model once."""

    def __init__(self, state: LibraryState, images_dir: Path, *, deep: bool) -> None:
        self.state = state
        self.images_dir = images_dir
        self.deep = deep
        self.rows: list[RowAudit] = []
        self.needs: list[NeedsDecision] = []
        self.legacy_tags: set[str] = set()
        self.counts = AuditCounts()
        self.owner: dict[str, RowAudit] = {}  # sha256 → first row that became that model
        self.sources: dict[str, dict[int, Path]] = {}  # sha256 → seq → legacy image
        self.orphans: list[AuditProblem] = []  # tier problems of models no legacy row became

    # --- one legacy row ------------------------------------------------------------------

    def row(self, row: LegacyModel) -> None:
        self.legacy_tags.update(row.tags)
        item = self.state.items.get(str(row.legacy_id))
        if item is None:
            self.rows.append(
                RowAudit(
                    legacy_id=row.legacy_id,
                    outcome="missing",
                    problems=[
                        _problem(
                            "row_not_in_run",
                            f"legacy row {row.legacy_id} is not part of the run: the legacy DB"
                            " changed after the migration started",
                            "start a new stage-1 run (`model-migrate legacy …`) to migrate it",
                            row.legacy_id,
                        )
                    ],
                )
            )
            return
        audit = RowAudit(
            legacy_id=row.legacy_id,
            item_id=item.id,
            state=item.state,
            outcome="missing",
            sha256=item.sha256,
            decision=self.state.decisions.get(item.id),
        )
        audit.bad_images, audit.notes = split_warnings(item)
        handler = {
            "promoted": self._promoted,
            "staged": self._staged,
            "conflicted": self._conflicted,
            "failed": self._failed,
            "ignored": self._ignored,
            "deleted": self._deleted,
        }.get(item.state, self._unfinished)
        handler(row, item, audit)
        self.rows.append(audit)

    def _promoted(self, row: LegacyModel, item: ItemRow, audit: RowAudit) -> None:
        sha = item.sha256 or ""
        good = good_refs(row, item)
        seqs = item.image_seqs
        problem = accounting_problem(
            row.legacy_id,
            f"legacy row {row.legacy_id}",
            len(row.images),
            len(good),
            len(seqs),
            "migrated",
        )
        if problem is None:
            sources = self.sources.setdefault(sha, {})
            for seq, index in zip(seqs, good, strict=True):
                path = row.images[index].path
                if path is not None:
                    sources[seq] = path
        else:
            audit.problems.append(problem)
        replace = item.artifacts.get("image_mode") == "replace"
        self._model(row, sha, audit, superset=replace)

    def _model(self, row: LegacyModel, sha: str, audit: RowAudit, *, superset: bool) -> None:
        """The row became model ``sha``: fields, tags and images_count."""
        model = self.state.models.get(sha)
        audit.sha256 = sha
        if model is None:
            audit.outcome = "missing"
            audit.problems.append(
                _problem(
                    "model_missing",
                    f"legacy row {row.legacy_id} became model {sha}, which is no longer in the"
                    " library",
                    f"restore the library from a backup, or {RERUN} to import the row again",
                    row.legacy_id,
                )
            )
            return
        audit.outcome = "model"
        self.owner.setdefault(sha, audit)
        combined = self.state.combined_by(sha)
        audit.combined_by = combined
        label = f"model {sha}" + (f" (combined by {combined})" if combined else "")
        audit.problems += field_problems(row, model, label, combined=combined is not None)
        audit.problems += tag_problems(
            row, model.tags, label, superset=superset or combined is not None
        )
        if model.meta is not None:
            audit.images_count = model.meta.images_count
            audit.images_expected = self.state.expected_images(sha)

    def _staged(self, row: LegacyModel, item: ItemRow, audit: RowAudit) -> None:
        pid = item.artifacts.get("pending_id")
        audit.pending_id = int(pid) if pid is not None else None
        prow = self.state.pending.get(audit.pending_id) if audit.pending_id is not None else None
        promo = self.state.promotions.get(str(audit.pending_id))
        if promo is not None:
            audit.bad_images, audit.notes = split_warnings(item, promo)
            audit.decision = self.state.decisions.get(promo.id) or audit.decision
        if prow is not None:  # pending ids are never reused (AUTOINCREMENT / serial)
            audit.outcome = "pending"
            self.counts.pending_checked += 1
            audit.problems += pending_problems(row, item, prow, self.state.listing.pending_files)
            if promo is not None and promo.state in ("conflicted", "failed"):
                self._waiting(row, promo, audit, stage=2)
            return
        if promo is not None and promo.state == "promoted" and promo.sha256:
            audit.promoted_by_item = promo.id
            self._model(row, promo.sha256, audit, superset=False)
            if audit.outcome == "model":
                staged = [str(n) for n in item.artifacts.get("pending_images", [])]
                warned = {str(n.file) for n in split_warnings(promo)[0]}
                good = [n for n in staged if n not in warned]
                problem = accounting_problem(
                    row.legacy_id,
                    f"legacy row {row.legacy_id} (staged, promoted by item {promo.id})",
                    len(staged),
                    len(good),
                    len(promo.image_seqs),
                    "migrated",
                )
                if problem is not None:
                    audit.problems.append(problem)
            return
        if promo is not None and promo.state == "deleted":
            audit.outcome = "deleted"
            return
        audit.problems.append(
            _problem(
                "pending_row_missing",
                f"legacy row {row.legacy_id} was staged as pending model {audit.pending_id},"
                " which is gone and was neither promoted nor deleted by a decision",
                f"{RERUN} to stage the row again, or restore the library from a backup",
                row.legacy_id,
            )
        )

    def _conflicted(self, row: LegacyModel, item: ItemRow, audit: RowAudit) -> None:
        audit.outcome = "conflicted"
        conflict = item.artifacts.get("conflict", {})
        sha = str(conflict.get("sha256") or item.sha256 or "")
        exists = sha in self.state.models
        audit.conflict_with = ConflictWith(
            sha256=sha,
            legacy_id=conflict.get("legacy_id"),
            existing_path=conflict.get("existing_path"),
            model_exists=exists,
        )
        self._waiting(row, item, audit, stage=1)

    def _waiting(self, row: LegacyModel, item: ItemRow, audit: RowAudit, *, stage: int) -> None:
        if item.state == "conflicted":
            conflict = item.artifacts.get("conflict", {})
            other = conflict.get("legacy_id")
            what = f"legacy row {other}" if other is not None else "an existing model"
            reason = (
                f"stage {stage}: same sha256 {conflict.get('sha256', '?')} as {what}"
                f" ({conflict.get('existing_path', '?')})"
            )
            strategies = (
                ("merge", "override", "ignore")
                if stage == 1
                else ("merge", "override", "ignore", "delete")
            )
            commands = [f"model-migrate resolve {item.id} {s}" for s in strategies]
            state = "conflicted"
        else:
            reason = f"stage {stage}: failed with {item.error_code}: {item.error}"
            commands = [f"model-migrate retry --item {item.id}"]
            state = "failed"
        self.needs.append(
            NeedsDecision(
                legacy_id=row.legacy_id,
                item_id=item.id,
                run_id=item.run_id,
                state=state,
                reason=reason,
                commands=commands,
            )
        )

    def _failed(self, row: LegacyModel, item: ItemRow, audit: RowAudit) -> None:
        audit.outcome = "failed"
        audit.error_code, audit.error = item.error_code, item.error
        self._waiting(row, item, audit, stage=1)

    def _ignored(self, row: LegacyModel, item: ItemRow, audit: RowAudit) -> None:
        audit.outcome = "ignored"
        sha = str(item.artifacts.get("conflict", {}).get("sha256") or item.sha256 or "")
        if sha and sha not in self.state.models:
            audit.problems.append(
                _problem(
                    "ignored_target_missing",
                    f"legacy row {row.legacy_id} was ignored because model {sha} existed, but"
                    " that model is gone: the row's data is in no model",
                    f"{RERUN} to import the row again",
                    row.legacy_id,
                )
            )

    def _deleted(self, row: LegacyModel, item: ItemRow, audit: RowAudit) -> None:
        audit.outcome = "deleted"

    def _unfinished(self, row: LegacyModel, item: ItemRow, audit: RowAudit) -> None:
        audit.outcome = "unfinished"
        audit.problems.append(
            _problem(
                "row_unfinished",
                f"legacy row {row.legacy_id} is still in state {item.state} (run {item.run_id}"
                " is not finished)",
                f"resume the run: `model-migrate worker --run {item.run_id}`, or start"
                " `model-migrate legacy` again with the same legacy DB",
                row.legacy_id,
            )
        )

    # --- every model once ----------------------------------------------------------------

    def finish_models(self) -> None:
        """images_count and tier files of every model (problems go to the row that owns it)."""
        for sha, model in self.state.models.items():
            if model.meta is None:
                continue
            self.counts.models_checked += 1
            owner = self.owner.get(sha)
            lid = owner.legacy_id if owner is not None else None
            count = model.meta.images_count
            result = check_tiers(
                self.images_dir,
                sha,
                count,
                self.state.listing,
                self.sources.get(sha, {}),
                deep=self.deep,
                legacy_id=lid,
            )
            self.counts.tier_files_checked += result.checked
            self.counts.tier_files_decoded += result.decoded
            problems = result.problems
            expected = self.state.expected_images(sha)
            if owner is not None and count != expected and not self._replaced_more(sha, count):
                problems.insert(
                    0,
                    _problem(
                        "images_count_mismatch",
                        f"model {sha} says images_count={count}, but the migration published"
                        f" {expected} image(s) for it",
                        f"set images_count back to {expected} if no tier files are missing;"
                        f" otherwise {RERUN}",
                        lid,
                    ),
                )
            if owner is not None:
                owner.problems += problems
            else:
                self.orphans += problems

    def _replaced_more(self, sha: str, count: int) -> bool:
        """A model that existed before (``replace``) may hold more images than we published."""
        items = self.state.by_sha.get(sha, [])
        return count > self.state.expected_images(sha) and any(
            i.artifacts.get("image_mode") == "replace" for i in items
        )
