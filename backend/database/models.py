"""SQLAlchemy 2.0 typed ORM for the v2 library tables and the hash cache.

The schema is created only by Alembic (``backend/database/alembic``); these classes mirror it.
The workflow engine's own tables live in :mod:`workflows.tables`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every table of the library database."""


# --- v2 library -------------------------------------------------------------------------------


class Model(Base):
    """A model in the v2 library, keyed by its lower-case SHA-256.

    Mirrors the v2 app's DDL: only ``path`` is NOT NULL, so rows the v2 app wrote may lack a
    name, a type, a date or meta.
    """

    __tablename__ = "models"

    sha256: Mapped[str] = mapped_column(Text, primary_key=True)
    path: Mapped[str] = mapped_column(Text, index=True)
    name: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int | None] = mapped_column(BigInteger)
    meta_json: Mapped[str | None] = mapped_column(Text)


class Tag(Base):
    """A tag; matched by lower-cased, trimmed name, never by id."""

    __tablename__ = "tags"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, unique=True)


class ModelTag(Base):
    """Link between a library model and a tag."""

    __tablename__ = "model_tags"

    model_hash: Mapped[str] = mapped_column(
        ForeignKey("models.sha256", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class PendingImport(Base):
    """A model file known by path, waiting to be hashed and promoted into ``models``.

    Its id is a plain ``INTEGER PRIMARY KEY`` (no AUTOINCREMENT), as in the v2 app.
    """

    __tablename__ = "pending_import"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    sha256: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int | None] = mapped_column(BigInteger)
    meta_json: Mapped[str | None] = mapped_column(Text)


class PendingModelTag(Base):
    """Link between a pending model and a tag."""

    __tablename__ = "pending_model_tags"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("pending_import.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class DbMeta(Base):
    """Key/value facts about the library database (``db_version``, ``tags_id_max``)."""

    __tablename__ = "db_meta"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)


class HashCache(Base):
    """SHA-256 of a file, valid while its (path, size, mtime_ns) are unchanged."""

    __tablename__ = "hash_cache"

    path: Mapped[str] = mapped_column(Text, primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    hashed_at: Mapped[float] = mapped_column(Float)
