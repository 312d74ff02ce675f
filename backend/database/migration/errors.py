"""Domain errors of the migration layer. Each has a stable ``code``.

``backend/server/errors.py`` maps them to HTTP statuses and the CLI to exit codes; nothing else
does. A failure of one item is data recorded on the item, not one of these exceptions.
"""

from __future__ import annotations


class MigrationError(Exception):
    """Base of every domain error; ``code`` is stable and machine-readable."""

    code = "migration_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInputError(MigrationError):
    """The caller gave a value that cannot be used (bad path, bad option, bad id)."""

    code = "invalid_input"


class LegacyDatabaseError(InvalidInputError):
    """The legacy database is missing, not SQLite, or lacks the v1 tables."""

    code = "legacy_db_invalid"


class NotFoundError(MigrationError):
    """A run, item or pending model with that id does not exist."""

    code = "not_found"


class WrongStateError(MigrationError):
    """The requested action is not allowed in the item's or run's current state."""

    code = "wrong_state"


class ForbiddenPathError(MigrationError):
    """A path lies outside the configured import roots."""

    code = "path_forbidden"


class ImageError(MigrationError):
    """One image could not be turned into tiers (missing, truncated, unreadable, too large...)."""

    code = "image_unreadable"


class HashError(MigrationError):
    """A model file could not be hashed (missing, or changed while being hashed)."""

    code = "source_missing"


class LibrarySchemaError(InvalidInputError):
    """The library database is not a v2 library of the expected shape; nothing was written."""

    code = "library_schema_mismatch"


class NewerLibraryError(InvalidInputError):
    """The library database was made by a newer program (schema version or revision)."""

    code = "library_schema_newer"


class LibrarySettingError(InvalidInputError):
    """A setting naming the library (data dir, database URL) cannot be used as given."""

    code = "library_setting_invalid"


class LibraryDatabaseError(MigrationError):
    """The library database cannot be opened, read or written (corrupt, unreachable, read-only).

    An environment failure, not bad input.
    """

    code = "library_db_unavailable"
