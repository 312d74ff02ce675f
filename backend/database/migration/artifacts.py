"""What the steps leave on an item for later steps, the audit and the API.

:class:`Artifacts` is a typed view of the item's ``artifacts`` JSON: reading a field reads the
stored key, setting one writes it, so the JSON keeps exactly the keys the steps set (as before
the view existed) and a step pays no validation or copy on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar, overload

T = TypeVar("T")

ImageMode = Literal["new", "replace", "append"]
"""How the image step numbers an item's images: ``replace`` rewrites seqs 0..k-1 (a re-run
over the same source); ``new`` and ``append`` number after the model's current images."""


class HasArtifacts(Protocol):
    """Anything that carries an artifacts JSON (a WorkItem, an audit row)."""

    artifacts: dict[str, Any]


@dataclass(frozen=True)
class Conflict:
    """The clash behind a conflicted item: the hash and the path already in the library, and
    the pending path (stage 2) or the legacy row that owns the hash (stage 1)."""

    sha256: str | None = None
    existing_path: str | None = None
    pending_path: str | None = None
    legacy_id: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Conflict:
        """The conflict as stored."""
        return cls(
            sha256=data.get("sha256"),
            existing_path=data.get("existing_path"),
            pending_path=data.get("pending_path"),
            legacy_id=data.get("legacy_id"),
        )

    def to_json(self) -> dict[str, Any]:
        """The stored form: hash and existing path always, the others when known."""
        data: dict[str, Any] = {"sha256": self.sha256, "existing_path": self.existing_path}
        if self.pending_path is not None:
            data["pending_path"] = self.pending_path
        if self.legacy_id is not None:
            data["legacy_id"] = self.legacy_id
        return data


class _Key(Generic[T]):
    """One key of the artifacts JSON, typed; ``default`` is what an absent key reads as."""

    def __init__(self, default: Callable[[], T]) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, view: None, owner: type) -> _Key[T]: ...

    @overload
    def __get__(self, view: Artifacts, owner: type) -> T: ...

    def __get__(self, view: Artifacts | None, owner: type) -> _Key[T] | T:
        if view is None:
            return self
        value: T = view.json.get(self.name, self.default())
        return value

    def __set__(self, view: Artifacts, value: T) -> None:
        view.json[self.name] = value


class Artifacts:
    """Typed fields of an item's artifacts JSON; every field is optional."""

    __slots__ = ("json",)

    image_mode = _Key[ImageMode | None](lambda: None)
    image_seqs = _Key[list[int]](list)
    """Seqs of the images this item published."""
    images_count = _Key[int | None](lambda: None)
    """The model's images_count checked at promotion."""
    pending_id = _Key[int | None](lambda: None)
    """The pending row a staged legacy item created."""
    pending_images = _Key[list[str]](list)
    """Originals in ``images/pending`` (staged by stage 1, read by stage 2)."""
    remove_files = _Key[list[str]](list)
    """Originals to remove once the promotion (or deletion) has committed."""
    library_digest = _Key[str | None](lambda: None)
    """Digest of the model row as this item left it (see ``LibraryRepository.model_digest``)."""
    created_model = _Key[bool](lambda: False)
    """Whether this item (or an earlier run of its row) created the model."""
    own_seqs = _Key[list[int]](list)
    """Image seqs this migration wrote for the row, over every run."""

    def __init__(self, json: dict[str, Any]) -> None:
        self.json = json

    @classmethod
    def of(cls, item: HasArtifacts) -> Artifacts:
        """The view of ``item.artifacts`` (writes go to the item's JSON)."""
        return cls(item.artifacts)

    @property
    def conflict(self) -> Conflict | None:
        """The clash recorded on a conflicted (or decided) item."""
        data = self.json.get("conflict")
        return None if data is None else Conflict.from_json(data)

    @conflict.setter
    def conflict(self, value: Conflict) -> None:
        self.json["conflict"] = value.to_json()
