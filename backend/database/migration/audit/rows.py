"""Where each legacy row went: one :class:`RowAudit` per row, a page of rows at a time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from backend.database.migration.artifacts import Artifacts, Conflict
from backend.database.migration.audit.catalogue import problem
from backend.database.migration.audit.checks import (
    accounting_problem,
    field_problems,
    good_refs,
    pending_problems,
    split_warnings,
    tag_problems,
)
from backend.database.migration.audit.image_sets import check_model, expected_images
from backend.database.migration.audit.library import LibraryChecks
from backend.database.migration.audit.records import (
    AuditCounts,
    ConflictWith,
    NeedsDecision,
    RowAudit,
    RowTally,
)
from backend.database.migration.audit.state import AuditSources, ItemRow, LibraryState, Page
from backend.database.migration.conflicts import Strategy
from backend.database.migration.legacy.reader import LegacyReader
from backend.database.migration.legacy.rows import LegacyModel

Draft = dict[str, Any]
"""A RowAudit being filled in (built once at the end: cheaper than setting fields)."""
_STAGE1_CHOICES = (Strategy.MERGE, Strategy.OVERRIDE, Strategy.IGNORE)
_STAGE2_CHOICES = (*_STAGE1_CHOICES, Strategy.DELETE)


class RowAuditor:
    """Builds one RowAudit per legacy row; checks each model with the first row that became it."""

    def __init__(
        self, state: LibraryState, reader: LegacyReader, sources: AuditSources, *, deep: bool
    ) -> None:
        self.state = state
        self.reader = reader
        self.images_dir = sources.images_dir
        self.pending_dir = sources.pending_dir
        self.deep = deep
        self.tally = RowTally()
        self.counts = AuditCounts()
        self.seen = LibraryChecks()
        self.owned: set[str] = set()
        """Models a row of the run became (their checks are done; each counts as checked)."""
        self._page: Page | None = None
        self._rows: dict[int, LegacyModel] = {}

    def page(self, rows: list[LegacyModel]) -> Iterator[RowAudit]:
        """Audit a page of legacy rows (ordered by legacy id)."""
        self._page = self.state.page([r.legacy_id for r in rows])
        self._rows = {r.legacy_id: r for r in rows}
        for row in rows:
            yield self.row(self._page, row)

    def _row_by_id(self, legacy_id: int) -> LegacyModel | None:
        """A legacy row of this page, or of another page (a row combined into the same model)."""
        if legacy_id not in self._rows:
            self._rows.update(self.reader.get_many([legacy_id]))
        return self._rows.get(legacy_id)

    def row(self, page: Page, row: LegacyModel) -> RowAudit:
        """Where one legacy row went, and what is wrong with what it became."""
        lid = row.legacy_id
        self.seen.legacy_ids.add(lid)
        self.seen.legacy_tags.update(row.tags)
        item = page.items.get(str(lid))
        if item is None:
            return RowAudit(
                legacy_id=lid, outcome="missing", problems=[problem("row_not_in_run", lid=lid)]
            )
        self.seen.items += 1
        audit: Draft = {
            "legacy_id": lid,
            "item_id": item.id,
            "state": item.state,
            "outcome": "missing",
            "sha256": item.sha256,
            "decision": page.decisions.get(item.id),
            "problems": [],
        }
        audit["bad_images"], audit["notes"] = split_warnings(item)
        if item.state == "promoted":
            self._promoted(page, row, item, audit)
        elif item.state == "staged":
            self._staged(page, row, item, audit)
        elif item.state in ("conflicted", "failed"):
            self._waiting(page, row, item, audit)
        elif item.state == "ignored":
            self._ignored(page, row, item, audit)
        elif item.state == "deleted":
            audit["outcome"] = "deleted"
        else:
            audit["problems"].append(
                problem("row_unfinished", lid=lid, state=item.state, run=item.run_id)
            )
            audit["outcome"] = "unfinished"
        # The validator itself: quicker than RowAudit(**audit), model_validate (~0.8 µs a row
        # more) or model_construct.
        audited: RowAudit = RowAudit.__pydantic_validator__.validate_python(audit)
        return audited

    def _promoted(self, page: Page, row: LegacyModel, item: ItemRow, audit: Draft) -> None:
        lid = row.legacy_id
        good = len(good_refs(row, item))
        if good != len(item.image_seqs):  # the label is only spelled for a problem
            found = accounting_problem(
                lid, f"legacy row {lid}", len(row.images), good, len(item.image_seqs), "migrated"
            )
            audit["problems"].append(found)
        self._model(page, row, item.sha256 or "", audit, superset=item.image_mode == "replace")

    def _model(
        self, page: Page, row: LegacyModel, sha: str, audit: Draft, *, superset: bool
    ) -> None:
        """The row became model ``sha``: fields, tags, and (once per model) its image sets."""
        model = page.models.get(sha)
        audit["sha256"] = sha
        if model is None:
            audit["problems"].append(problem("model_missing", lid=row.legacy_id, sha=sha))
            return
        audit["outcome"] = "model"
        combined = page.combined_by(sha)
        audit["combined_by"] = combined
        label = f"model {sha}" + (f" (combined by {combined})" if combined else "")
        audit["problems"] += field_problems(row, model, label, combined=combined is not None)
        audit["problems"] += tag_problems(
            row, model.tags, label, superset=superset or combined is not None
        )
        if model.meta is None:
            return
        audit["images_count"] = model.meta.images_count
        run_id = self.state.run_id
        if sha in self.owned:
            audit["images_expected"] = expected_images(page, sha, run_id, self._row_by_id).count
            return
        self.owned.add(sha)  # its count is the report's models_checked (a pydantic setattr costs)
        sets = check_model(
            page,
            sha,
            model.meta.images_count,
            run_id,
            self._row_by_id,
            self.images_dir,
            deep=self.deep,
            legacy_id=row.legacy_id,
        )
        audit["images_expected"] = sets.expected
        audit["problems"] += sets.problems
        if sets.checked:  # a pydantic record: skip the two assignments when nothing was read
            self.counts.tier_files_checked += sets.checked
            self.counts.tier_files_decoded += sets.decoded

    def _staged(self, page: Page, row: LegacyModel, item: ItemRow, audit: Draft) -> None:
        lid = row.legacy_id
        pid = Artifacts.of(item).pending_id
        audit["pending_id"] = int(pid) if pid is not None else None
        prow = page.pending.get(audit["pending_id"]) if audit["pending_id"] is not None else None
        promo = page.others.promotions.get(str(audit["pending_id"]))
        if audit["pending_id"] is not None:
            self.seen.staged_here.add(audit["pending_id"])
        if promo is not None:
            audit["bad_images"], audit["notes"] = split_warnings(item, promo)
            audit["decision"] = page.decisions.get(promo.id) or audit["decision"]
        if prow is not None:  # pending ids are never reused (AUTOINCREMENT / serial)
            audit["outcome"] = "pending"
            self.counts.pending_checked += 1
            audit["problems"] += pending_problems(row, item, prow, self.pending_dir)
            if promo is not None and promo.state in ("conflicted", "failed"):
                self._need(row, promo, stage=2)
        elif promo is not None and promo.state == "promoted" and promo.sha256:
            audit["promoted_by_item"] = promo.id
            self._model(page, row, promo.sha256, audit, superset=False)
            if audit["outcome"] == "model":
                staged = Artifacts.of(item).pending_images
                warned = {str(n.file) for n in split_warnings(promo)[0]}
                found = accounting_problem(
                    lid,
                    f"legacy row {lid} (staged, promoted by item {promo.id})",
                    len(staged),
                    len([n for n in staged if n not in warned]),
                    len(promo.image_seqs),
                    "migrated",
                )
                if found is not None:
                    audit["problems"].append(found)
        elif promo is not None and promo.state == "deleted":
            audit["outcome"] = "deleted"
        else:
            audit["problems"].append(
                problem("pending_row_missing", lid=lid, pid=audit["pending_id"])
            )

    def _waiting(self, page: Page, row: LegacyModel, item: ItemRow, audit: Draft) -> None:
        if item.state == "conflicted":
            conflict = Artifacts.of(item).conflict or Conflict()
            sha = str(conflict.sha256 or item.sha256 or "")
            audit["conflict_with"] = ConflictWith(
                sha256=sha,
                legacy_id=conflict.legacy_id,
                existing_path=conflict.existing_path,
                model_exists=sha in page.models,
            )
            audit["outcome"] = "conflicted"
        else:
            audit["outcome"] = "failed"
            audit["error_code"], audit["error"] = item.error_code, item.error
        self._need(row, item, stage=1)

    def _need(self, row: LegacyModel, item: ItemRow, *, stage: int) -> None:
        """The row waits for a person: what to decide and the commands that do it."""
        if item.state == "conflicted":
            conflict = Artifacts.of(item).conflict or Conflict()
            other = conflict.legacy_id
            what = f"legacy row {other}" if other is not None else "an existing model"
            reason = (
                f"stage {stage}: same sha256 {conflict.sha256 or '?'} as {what}"
                f" ({conflict.existing_path or '?'})"
            )
            choices = _STAGE1_CHOICES if stage == 1 else _STAGE2_CHOICES
            commands = [f"model-migrate resolve {item.id} {s.value}" for s in choices]
        else:
            reason = f"stage {stage}: failed with {item.error_code}: {item.error}"
            commands = [f"model-migrate retry --item {item.id}"]
        self.tally.needs.append(
            NeedsDecision(
                legacy_id=row.legacy_id,
                item_id=item.id,
                run_id=item.run_id,
                state="conflicted" if item.state == "conflicted" else "failed",
                reason=reason,
                commands=commands,
            )
        )

    def _ignored(self, page: Page, row: LegacyModel, item: ItemRow, audit: Draft) -> None:
        audit["outcome"] = "ignored"
        conflict = Artifacts.of(item).conflict
        sha = str((conflict.sha256 if conflict else None) or item.sha256 or "")
        if sha and sha not in page.models:
            audit["problems"].append(problem("ignored_target_missing", lid=row.legacy_id, sha=sha))
