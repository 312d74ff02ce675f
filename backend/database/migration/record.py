"""The base of every record the migration layer returns (a module of its own, so a command
that prints one record does not import them all)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    """Base of the strict records: unknown fields are errors, ORM rows are readable."""

    model_config = ConfigDict(extra="forbid", from_attributes=True, strict=False)
