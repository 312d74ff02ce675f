"""Every problem the audit can report: its code, its message and what to do, in one table.

A problem is built with :func:`problem` from its code and the values its texts name; nothing
else in the audit spells a message or a fix.
"""

from __future__ import annotations

from typing import Any, Final

from backend.database.migration.audit.records import AuditProblem

RERUN: Final = (
    "re-run stage 1 on a copy of the legacy DB with --on-conflict override (without it, a model"
    " changed in the v2 app since is kept: warning changed_in_v2)"
)
"""The phrase fixes use; the CLI spells out how (``verify`` prints the recipe)."""
_REPAIR: Final = (
    "if you did not change it in the v2 library on purpose, set it back to the legacy value,"
    f" or {RERUN} (it rewrites the model from legacy row {{lid}})"
)
_REPAIR_TIER: Final = (
    f"restore {{file}} from a backup of the data folder, or {RERUN} (it re-renders the row's"
    " images)"
)
_EXTRA_SET: Final = (
    "delete the three tier files {sha}_{seq}_*.webp; once every extra set is gone, set"
    " images_count to {expected}"
)
_IDLE: Final = "no migration is running (every item is settled)"

CATALOGUE: Final[dict[str, tuple[str, str]]] = {
    # --- where a legacy row went -----------------------------------------------------------
    "row_not_in_run": (
        "legacy row {lid} is not part of the run: the legacy DB changed after the migration"
        " started",
        "start a new stage-1 run (`model-migrate legacy …`) to migrate it",
    ),
    "row_unfinished": (
        "legacy row {lid} is still in state {state} (run {run} is not finished)",
        "resume the run: `model-migrate worker --run {run}`, or start `model-migrate legacy`"
        " again with the same legacy DB",
    ),
    "model_missing": (
        "legacy row {lid} became model {sha}, which is no longer in the library",
        f"restore the library from a backup, or {RERUN} to import the row again",
    ),
    "pending_row_missing": (
        "legacy row {lid} was staged as pending model {pid}, which is gone and was neither"
        " promoted nor deleted by a decision",
        f"{RERUN} to stage the row again, or restore the library from a backup",
    ),
    "ignored_target_missing": (
        "legacy row {lid} was ignored because model {sha} existed, but that model is gone: the"
        " row's data is in no model",
        f"{RERUN} to import the row again",
    ),
    "legacy_id_invalid": (
        "item {item}: legacy row {key} has an id that is not stored as an INTEGER, so it was not"
        " migrated",
        "store the row's id as an integer in the legacy DB and run a new stage-1 run",
    ),
    "legacy_row_vanished": (
        "item {item} of run {run} migrated legacy row {key}, which is no longer in the legacy DB",
        "the legacy DB changed after the migration: audit against the original legacy DB"
        " (restore it from your backup)",
    ),
    # --- what a row became -----------------------------------------------------------------
    "meta_invalid": ("{label}: meta_json is not valid JSON of the v2 shape", _REPAIR),
    "field_mismatch": ("{label}: {field} is {have}, legacy row {lid} has {want}", _REPAIR),
    "extra_key_missing": ("{label}: extra key {key} of legacy row {lid} is missing", _REPAIR),
    "tags_missing": (
        "{label}: lacks tag(s) {tags} of legacy row {lid}",
        f"add the tag(s) back ({{tags}}), or {RERUN}",
    ),
    "tags_extra": (
        "{label}: has tag(s) {tags} that legacy row {lid} lacks",
        "remove the tag(s) if you did not add them in the v2 library",
    ),
    "pending_original_missing": (
        "{label}: original {name} is missing",
        "restore images/pending/{name} from {origin}, or remove the name from the pending"
        " model's images",
    ),
    # --- images ----------------------------------------------------------------------------
    "images_unaccounted": (
        "{label}: {total} image(s), {warned} with a warning, so {good} should be {what}, but"
        " {produced} are",
        f"{RERUN} to migrate the images again",
    ),
    "images_count_mismatch": (
        "model {sha} says images_count={count}, but its legacy row(s) give {expected} good"
        " image(s)",
        f"set images_count back to {{expected}} if no tier files are missing; otherwise {RERUN}",
    ),
    "image_set_duplicated": (
        "model {sha}: image set {seq} repeats image set {same} (images_count={count}; the"
        " legacy row(s) give {expected} good image(s)), e.g. two runs of one legacy DB",
        _EXTRA_SET,
    ),
    "image_removed_leftover": (
        "model {sha}: image set {seq} was published by an earlier run, but the legacy row(s)"
        " now give only {expected} good image(s) (images_count={count}): the image was removed"
        " from the legacy row",
        _EXTRA_SET,
    ),
    "tier_missing": ("tier file {file} of model {sha} (image {seq}) is missing", _REPAIR_TIER),
    "tier_unreadable": ("tier file {file} is not a readable WebP image", _REPAIR_TIER),
    "tier_wrong_size": ("tier file {file} is {have}, expected {want}", _REPAIR_TIER),
    "tier_corrupt": ("tier file {file} has a valid header but does not decode", _REPAIR_TIER),
    # --- the library as a whole ------------------------------------------------------------
    "orphan_image": (
        "{file}: no model has sha256 {sha}",
        "delete the file (or restore the model from a backup if it was removed by mistake)",
    ),
    "tier_beyond_count": (
        "{file}: model {sha} counts only {count} image(s) (seqs 0..{last})",
        "delete the file; no v2 reader shows it",
    ),
    "unexpected_file": (
        "images/{file} is not a tier file, a pending original or a temp file",
        "the migrator did not write it: move it out of the images folder",
    ),
    "temp_file_leftover": (
        "images/{file} is a leftover of an interrupted step",
        f"{_IDLE}: delete it",
    ),
    "staging_leftover": (
        "images/{file} is a leftover of an interrupted step",
        f"{_IDLE}: delete it",
    ),
    "pending_original_orphan": (
        "images/{file} belongs to no pending model",
        f"{_IDLE}: delete it (the end of every run also sweeps these)",
    ),
    "tag_unexplained": (
        "tag {name} (id {tid}) is used by no model or pending model and no legacy row has it",
        "delete the tag unless you created it in the v2 library",
    ),
}


def problem(
    code: str, *, lid: int | None = None, file: str | None = None, **values: Any
) -> AuditProblem:
    """The problem ``code`` of the catalogue, its texts filled with ``values`` (and ``lid``,
    ``file``, which it also records)."""
    message, fix = CATALOGUE[code]
    names = {"lid": lid, "file": file, **values}
    return AuditProblem(
        code=code,
        message=message.format(**names),
        fix=fix.format(**names),
        legacy_id=lid,
        file=file,
    )
