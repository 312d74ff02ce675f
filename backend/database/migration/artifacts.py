"""What the steps leave on an item for later steps, the audit and the API.

Stored as the item's ``artifacts`` JSON with only the keys a step set, exactly as before the
record existed; read it with :meth:`Artifacts.of`, change it inside :func:`editing`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

ImageMode = Literal["new", "replace", "append"]
"""How the image step numbers an item's images: ``replace`` rewrites seqs 0..k-1 (a re-run
over the same source); ``new`` and ``append`` number after the model's current images."""


class HasArtifacts(Protocol):
    """Anything that carries an artifacts JSON (a WorkItem, an audit row)."""

    artifacts: dict[str, Any]


class Conflict(BaseModel):
    """The clash behind a conflicted item: the hash and the path already in the library."""

    model_config = ConfigDict(extra="forbid")

    sha256: str | None = None
    existing_path: str | None = None
    pending_path: str | None = None
    legacy_id: int | None = None


class Artifacts(BaseModel):
    """An item's artifacts; every field is optional and only set fields are stored."""

    model_config = ConfigDict(extra="forbid")

    image_mode: ImageMode | None = None
    image_seqs: list[int] = Field(default_factory=list)
    """Seqs of the images this item published."""
    images_count: int | None = None
    """The model's images_count checked at promotion."""
    pending_id: int | None = None
    """The pending row a staged legacy item created."""
    pending_images: list[str] = Field(default_factory=list)
    """Originals in ``images/pending`` (staged by stage 1, read by stage 2)."""
    remove_files: list[str] = Field(default_factory=list)
    """Originals to remove once the promotion (or deletion) has committed."""
    conflict: Conflict | None = None

    @classmethod
    def of(cls, item: HasArtifacts) -> Artifacts:
        """The typed view of ``item.artifacts``."""
        return cls.model_validate(item.artifacts)

    def save(self, item: HasArtifacts) -> None:
        """Store the fields that were set back on ``item`` as JSON."""
        item.artifacts = self.model_dump(mode="json", exclude_unset=True)


@contextmanager
def editing(item: HasArtifacts) -> Iterator[Artifacts]:
    """Change an item's artifacts; they are saved on the item when the block ends."""
    artifacts = Artifacts.of(item)
    yield artifacts
    artifacts.save(item)
