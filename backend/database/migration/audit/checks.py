"""Comparisons of one legacy row with what it became: fields, tags, images, pending originals."""

from __future__ import annotations

import json
from typing import Any

from backend.database.migration.audit.records import RERUN, AuditProblem, ImageNote
from backend.database.migration.audit.state import ItemRow, ModelRow, PendingRow
from backend.database.migration.legacy.rows import LegacyModel
from backend.database.migration.records import normalize_tag

REPAIR = (
    "if you did not change it in the v2 library on purpose, set it back to the legacy value,"
    f" or {RERUN} (it rewrites the model from legacy row {{legacy_id}})"
)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values; plain strings, ints and None are compared directly (the common
    case), anything else through its canonical JSON (so 1, 1.0 and true stay different)."""
    if type(a) is type(b) and (a is None or isinstance(a, str | int)) and not isinstance(a, bool):
        return bool(a == b)
    return _canonical(a) == _canonical(b)


def _pairs(row: LegacyModel, target: ModelRow | PendingRow) -> list[tuple[str, Any, Any]]:
    """(field, legacy value, library value) for every field a legacy row carries."""
    meta = target.meta
    pairs: list[tuple[str, Any, Any]] = [
        ("path", row.path, target.path),
        ("name", row.name, target.name),
        ("type", row.type, target.type),
        ("size_bytes", row.size_bytes, target.size_bytes),
        ("created_at", row.created_at, target.created_at),
    ]
    if meta is not None:
        pairs += [
            ("description", row.description, meta.description),
            ("community_links", row.community_links, meta.community_links),
            ("prompts.positive", row.prompts.positive, meta.prompts.positive),
            ("prompts.negative", row.prompts.negative, meta.prompts.negative),
        ]
    return pairs


def field_problems(
    row: LegacyModel, target: ModelRow | PendingRow, label: str, *, combined: bool
) -> list[AuditProblem]:
    """Fields and unknown ``extra`` keys equal to the legacy row's.

    After an override/merge (``combined``) fields may differ legitimately; only the unknown
    keys are checked, and only for presence: user data is never dropped.
    """
    out: list[AuditProblem] = []
    lid = row.legacy_id
    if target.meta is None:
        return [
            AuditProblem(
                code="meta_invalid",
                message=f"{label}: meta_json is not valid JSON of the v2 shape",
                fix=REPAIR.format(legacy_id=lid),
                legacy_id=lid,
            )
        ]
    if not combined:
        for name, want, have in _pairs(row, target):
            if not _same(want, have):
                out.append(
                    AuditProblem(
                        code="field_mismatch",
                        message=f"{label}: {name} is {_show(have)},"
                        f" legacy row {lid} has {_show(want)}",
                        fix=REPAIR.format(legacy_id=lid),
                        legacy_id=lid,
                    )
                )
    extra = target.meta.extra
    for key, value in sorted(row.extra.items()):
        if key not in extra:
            out.append(
                AuditProblem(
                    code="extra_key_missing",
                    message=f"{label}: extra key {key!r} of legacy row {lid} is missing",
                    fix=REPAIR.format(legacy_id=lid),
                    legacy_id=lid,
                )
            )
        elif not combined and not _same(extra[key], value):
            out.append(
                AuditProblem(
                    code="field_mismatch",
                    message=f"{label}: extra[{key!r}] is {_show(extra[key])},"
                    f" legacy row {lid} has {_show(value)}",
                    fix=REPAIR.format(legacy_id=lid),
                    legacy_id=lid,
                )
            )
    return out


def tag_problems(
    row: LegacyModel, have: set[str], label: str, *, superset: bool
) -> list[AuditProblem]:
    """Tag names equal to the legacy row's (a superset after a merge/override)."""
    want = {normalize_tag(t) for t in row.tags}
    have = {normalize_tag(t) for t in have}
    out: list[AuditProblem] = []
    lid = row.legacy_id
    missing = sorted(want - have)
    if missing:
        out.append(
            AuditProblem(
                code="tags_missing",
                message=f"{label}: lacks tag(s) {', '.join(missing)} of legacy row {lid}",
                fix=f"add the tag(s) back ({', '.join(missing)}), or {RERUN}",
                legacy_id=lid,
            )
        )
    extra = sorted(have - want)
    if extra and not superset:
        out.append(
            AuditProblem(
                code="tags_extra",
                message=f"{label}: has tag(s) {', '.join(extra)} that legacy row {lid} lacks",
                fix="remove the tag(s) if you did not add them in the v2 library",
                legacy_id=lid,
            )
        )
    return out


def split_warnings(*items: ItemRow | None) -> tuple[list[ImageNote], list[ImageNote]]:
    """(bad images, other notes) from the items' recorded warnings."""
    images: list[ImageNote] = []
    notes: list[ImageNote] = []
    for item in items:
        if item is None:
            continue
        for w in item.warnings:
            note = ImageNote(
                code=str(w.get("code")), file=w.get("file"), message=str(w.get("message"))
            )
            (images if note.code.startswith("image_") else notes).append(note)
    return images, notes


def _warned(item: ItemRow) -> set[str]:
    return {
        str(w.get("file"))
        for w in item.warnings
        if str(w.get("code", "")).startswith("image_") and w.get("file") is not None
    }


def good_refs(row: LegacyModel, item: ItemRow) -> list[int]:
    """Indexes of the row's image refs that carry no warning on the item (in order)."""
    warned = _warned(item)
    return [
        i
        for i, ref in enumerate(row.images)
        if ref.path is not None
        and ref.url not in warned
        and ref.url.replace("\x00", "\\x00") not in warned
    ]


def accounting_problem(
    lid: int, label: str, total: int, good: int, produced: int, what: str
) -> AuditProblem | None:
    """Every image is either migrated or has a warning; None when that holds."""
    if good == produced:
        return None
    return AuditProblem(
        code="images_unaccounted",
        message=f"{label}: {total} image(s), {total - good} with a warning, so {good} should be"
        f" {what}, but {produced} are",
        fix=f"{RERUN} to migrate the images again",
        legacy_id=lid,
    )


def original_source(row: LegacyModel, name: str) -> str | None:
    """The legacy image a staged original was copied from (``legacy{id}_{index}_{name}``)."""
    prefix = f"legacy{row.legacy_id}_"
    if not name.startswith(prefix):
        return None
    index, _, _rest = name[len(prefix) :].partition("_")
    if not index.isdigit() or int(index) >= len(row.images):
        return None
    path = row.images[int(index)].path
    return None if path is None else str(path)


def pending_problems(
    row: LegacyModel, item: ItemRow, prow: PendingRow, pending_files: set[str]
) -> list[AuditProblem]:
    """A staged row: the pending row equals the legacy row and its originals are on disk."""
    label = f"pending model {prow.id}"
    lid = row.legacy_id
    out = field_problems(row, prow, label, combined=False)
    out += tag_problems(row, prow.tags, label, superset=False)
    names = list(prow.meta.images) if prow.meta is not None else []
    for name in names:
        if name not in pending_files:
            source = original_source(row, name)
            fix = (
                f"copy {source} to images/pending/{name}"
                if source
                else f"restore images/pending/{name} from a backup"
            )
            out.append(
                AuditProblem(
                    code="pending_original_missing",
                    message=f"{label} (legacy row {lid}): original {name} is missing",
                    fix=fix,
                    legacy_id=lid,
                    file=f"pending/{name}",
                )
            )
    good = len(good_refs(row, item))
    problem = accounting_problem(
        lid, f"legacy row {lid}", len(row.images), good, len(names), "staged"
    )
    if problem is not None:
        out.append(problem)
    return out
