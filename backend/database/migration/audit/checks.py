"""Comparisons of one legacy row with what it became: fields, tags, images, pending originals.

What a row should become is taken from the steps' own mapping (:func:`user_meta`, the columns a
:class:`ModelRecord` copies from the row); the comparison itself stays the audit's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from operator import attrgetter
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from backend.database.migration.audit.catalogue import problem
from backend.database.migration.audit.records import AuditProblem, ImageNote
from backend.database.migration.audit.state import ItemRow, Target
from backend.database.migration.legacy.rows import LegacyModel
from backend.database.migration.records import MetaJson, ModelRecord
from backend.database.migration.steps.legacy import pending_image_name, user_meta

COLUMNS = tuple(f for f in ModelRecord.model_fields if f not in ("sha256", "meta", "tags"))
"""The columns a legacy row's value is copied into as is (path, name, type, ...)."""


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values; plain strings, ints and None are compared directly (the common
    case), anything else through its canonical JSON (so 1, 1.0 and true stay different)."""
    if type(a) is type(b) and type(a) in _PLAIN:
        return bool(a == b)
    return _canonical(a) == _canonical(b)


def _paths(names: Iterable[str]) -> Iterator[tuple[str, ...]]:
    """Field paths down to plain values (``prompts`` → ``prompts.positive``, ...)."""
    for name in names:
        kind = MetaJson.model_fields[name].annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            yield from ((name, inner) for inner in kind.model_fields)
        else:
            yield (name,)


_PLAIN = (str, int, type(None))
_PLAIN_TYPES = frozenset(_PLAIN)
_USER_PATHS = tuple(_paths(("description", "community_links", "prompts")))
"""The user fields a legacy row carries (per MetaJson), as paths to plain values."""


_columns = attrgetter(*COLUMNS)
_user_values = attrgetter(*(".".join(p) for p in _USER_PATHS))
"""The compared values as one tuple each: of the row and target, of the row and target meta."""


def _all_same(row: LegacyModel, target: Target, meta: Any) -> bool:
    """Every compared field equal and of one plain type on both sides (the common case, where
    :func:`_same` holds for each pair); False sends the row through the field-by-field loop."""
    want = _columns(row) + _user_values(row)
    have = _columns(target) + _user_values(meta)
    # Equal plain values (str, int, None) are always of one type: no pairwise type check.
    return want == have and _PLAIN_TYPES.issuperset(map(type, want + have))


def _get(value: Any, path: tuple[str, ...]) -> Any:
    for name in path:
        value = value[name] if isinstance(value, dict) else getattr(value, name)
    return value


def field_problems(
    row: LegacyModel, target: Target, label: str, *, combined: bool
) -> list[AuditProblem]:
    """Fields and unknown ``extra`` keys equal to the legacy row's.

    After an override/merge (``combined``) fields may differ legitimately; only the unknown
    keys are checked, and only for presence: user data is never dropped.
    """
    lid = row.legacy_id
    if target.meta is None:
        return [problem("meta_invalid", lid=lid, label=label)]
    out: list[AuditProblem] = []
    if not combined and not _all_same(row, target, target.meta):
        user = user_meta(row)
        pairs = [(c, getattr(row, c), getattr(target, c)) for c in COLUMNS]
        pairs += [(".".join(p), _get(user, p), _get(target.meta, p)) for p in _USER_PATHS]
        for name, want, have in pairs:
            if not _same(want, have):
                out.append(_mismatch(label, lid, name, have, want))
    if not row.extra:
        return out  # most rows: no unknown key to look for
    extra = target.meta.extra
    for key, value in sorted(row.extra.items()):
        if key not in extra:
            out.append(problem("extra_key_missing", lid=lid, label=label, key=repr(key)))
        elif not combined and not _same(extra[key], value):
            out.append(_mismatch(label, lid, f"extra[{key!r}]", extra[key], value))
    return out


def _mismatch(label: str, lid: int, name: str, have: Any, want: Any) -> AuditProblem:
    return problem(
        "field_mismatch", lid=lid, label=label, field=name, have=_show(have), want=_show(want)
    )


def tag_problems(
    row: LegacyModel, have: set[str], label: str, *, superset: bool
) -> list[AuditProblem]:
    """Tag names equal to the legacy row's (a superset after a merge/override)."""
    want = set(row.tags)  # the reader and the library both hold normalized names
    if want == have:
        return []
    out: list[AuditProblem] = []
    missing = sorted(want - have)
    if missing:
        out.append(problem("tags_missing", lid=row.legacy_id, label=label, tags=", ".join(missing)))
    extra = sorted(have - want)
    if extra and not superset:
        out.append(problem("tags_extra", lid=row.legacy_id, label=label, tags=", ".join(extra)))
    return out


def split_warnings(*items: ItemRow | None) -> tuple[list[ImageNote], list[ImageNote]]:
    """(bad images, other notes) from the items' recorded warnings."""
    images: list[ImageNote] = []
    notes: list[ImageNote] = []
    for item in items:
        for w in item.warnings if item is not None else []:
            note = ImageNote(
                code=str(w.get("code")), file=w.get("file"), message=str(w.get("message"))
            )
            (images if note.code.startswith("image_") else notes).append(note)
    return images, notes


def good_refs(row: LegacyModel, item: ItemRow) -> list[int]:
    """Indexes of the row's image refs that carry no warning on the item (in order): the
    images the row should have become."""
    if not row.images:
        return []
    warned = {
        str(w.get("file"))
        for w in item.warnings
        if str(w.get("code", "")).startswith("image_") and w.get("file") is not None
    }
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
    return problem(
        "images_unaccounted",
        lid=lid,
        label=label,
        total=total,
        warned=total - good,
        good=good,
        produced=produced,
        what=what,
    )


def original_source(row: LegacyModel, name: str) -> str | None:
    """The legacy image a staged original was copied from (named by ``pending_image_name``)."""
    for index, ref in enumerate(row.images):
        if ref.path is not None and pending_image_name(row.legacy_id, index, ref.path) == name:
            return str(ref.path)
    return None


def pending_problems(
    row: LegacyModel, item: ItemRow, prow: Target, pending_dir: Path
) -> list[AuditProblem]:
    """A staged row: the pending row equals the legacy row and its originals are on disk."""
    lid = row.legacy_id
    label = f"pending model {prow.key}"
    out = field_problems(row, prow, label, combined=False)
    out += tag_problems(row, prow.tags, label, superset=False)
    names = list(prow.meta.images) if prow.meta is not None else []
    for name in names:
        if not (pending_dir / name).is_file():
            source = original_source(row, name)
            out.append(
                problem(
                    "pending_original_missing",
                    lid=lid,
                    file=f"pending/{name}",
                    label=f"{label} (legacy row {lid})",
                    name=name,
                    origin=f"its legacy original {source}" if source else "a backup",
                )
            )
    good = len(good_refs(row, item))
    found = accounting_problem(
        lid, f"legacy row {lid}", len(row.images), good, len(names), "staged"
    )
    return out if found is None else [*out, found]
