"""Library-wide audit checks: files, pending originals and tags that nothing explains."""

from __future__ import annotations

from backend.database.migration.audit.records import AuditProblem
from backend.database.migration.audit.state import LibraryState
from backend.database.migration.legacy.reader import INVALID_ID_PREFIX
from backend.database.migration.records import normalize_tag

_IDLE = "no migration is running (every item is settled)"


def library_problems(
    state: LibraryState, legacy_tags: set[str], legacy_ids: set[str], run_id: int
) -> list[AuditProblem]:
    """Everything in the library that no legacy row, promotion or pending row explains."""
    return [
        *_tier_files(state),
        *_leftovers(state),
        *_pending(state, run_id),
        *_tags(state, {normalize_tag(t) for t in legacy_tags}),
        *_vanished(state, legacy_ids, run_id),
    ]


def _tier_files(state: LibraryState) -> list[AuditProblem]:
    out: list[AuditProblem] = []
    for sha, seqs in sorted(state.listing.tiers.items()):
        model = state.models.get(sha)
        if model is not None and model.meta is None:
            continue
        for seq, tiers in sorted(seqs.items()):
            for tier in sorted(tiers):
                name = f"{sha}_{seq}_{tier}.webp"
                if model is None:
                    out.append(
                        AuditProblem(
                            code="orphan_image",
                            message=f"{name}: no model has sha256 {sha}",
                            fix="delete the file (or restore the model from a backup if it was"
                            " removed by mistake)",
                            file=name,
                        )
                    )
                elif model.meta is not None and seq >= model.meta.images_count:
                    count = model.meta.images_count
                    out.append(
                        AuditProblem(
                            code="tier_beyond_count",
                            message=f"{name}: model {sha} counts only {count} image(s)"
                            f" (seqs 0..{count - 1})",
                            fix="delete the file; no v2 reader shows it",
                            file=name,
                        )
                    )
    for name in sorted(state.listing.unexpected):
        out.append(
            AuditProblem(
                code="unexpected_file",
                message=f"images/{name} is not a tier file, a pending original or a temp file",
                fix="the migrator did not write it: move it out of the images folder",
                file=name,
            )
        )
    return out


def _leftovers(state: LibraryState) -> list[AuditProblem]:
    if state.working:  # a running step may own them
        return []
    listing = state.listing
    names = [
        *listing.temp_files,
        *(f"pending/{n}" for n in listing.pending_temp),
        *listing.staging,
    ]
    return [
        AuditProblem(
            code="staging_leftover" if name.startswith(".staging/") else "temp_file_leftover",
            message=f"images/{name} is a leftover of an interrupted step",
            fix=f"{_IDLE}: delete it",
            file=name,
        )
        for name in sorted(names)
    ]


def _pending(state: LibraryState, run_id: int) -> list[AuditProblem]:
    out: list[AuditProblem] = []
    referenced: set[str] = set()
    staged_here = {
        int(item.artifacts["pending_id"])
        for item in state.items.values()
        if item.state == "staged" and item.artifacts.get("pending_id") is not None
    }
    for pid, prow in sorted(state.pending.items()):
        names = list(prow.meta.images) if prow.meta is not None else []
        referenced.update(names)
        if pid in staged_here:
            continue  # checked with its legacy row
        for name in names:
            if name not in state.listing.pending_files:
                out.append(
                    AuditProblem(
                        code="pending_original_missing",
                        message=f"pending model {pid} ({prow.path}): original {name} is missing",
                        fix=f"restore images/pending/{name} from a backup, or remove the name"
                        " from the pending model's images",
                        file=f"pending/{name}",
                    )
                )
    if state.working:
        return out
    for name in sorted(state.listing.pending_files - referenced):
        out.append(
            AuditProblem(
                code="pending_original_orphan",
                message=f"images/pending/{name} belongs to no pending model",
                fix=f"{_IDLE}: delete it (the end of every run also sweeps these)",
                file=f"pending/{name}",
            )
        )
    return out


def _tags(state: LibraryState, legacy_tags: set[str]) -> list[AuditProblem]:
    return [
        AuditProblem(
            code="tag_unexplained",
            message=f"tag {name!r} (id {tid}) is used by no model or pending model and no legacy"
            " row has it",
            fix="delete the tag unless you created it in the v2 library",
        )
        for tid, name in sorted(state.tag_names.items())
        if tid not in state.used_tag_ids and normalize_tag(name) not in legacy_tags
    ]


def _invalid_id(item_id: int, key: str) -> AuditProblem:
    return AuditProblem(
        code="legacy_id_invalid",
        message=f"item {item_id}: legacy row {key.removeprefix(INVALID_ID_PREFIX)!r} has an id"
        " that is not stored as an INTEGER, so it was not migrated",
        fix="store the row's id as an integer in the legacy DB and run a new stage-1 run",
    )


def _vanished(state: LibraryState, legacy_ids: set[str], run_id: int) -> list[AuditProblem]:
    return [
        _invalid_id(item.id, key)
        if key.startswith(INVALID_ID_PREFIX)
        else AuditProblem(
            code="legacy_row_vanished",
            message=f"item {item.id} of run {run_id} migrated legacy row {key}, which is no"
            " longer in the legacy DB",
            fix="the legacy DB changed after the migration: audit against the original legacy DB"
            " (restore it from your backup)",
        )
        for key, item in sorted(state.items.items(), key=lambda kv: kv[1].id)
        if key not in legacy_ids
    ]
