"""``Settings`` reads the environment as pydantic-settings' ``BaseSettings`` did (it no longer
imports pydantic-settings, to start faster): same values, same validation errors, same
precedence, for the same environments."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.config import Settings


class Reference(BaseSettings):
    """The settings class as it was with pydantic-settings (fields and validators)."""

    model_config = SettingsConfigDict(env_prefix="MODEL_MIGRATE_", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    import_roots: list[Path] | None = None
    api_token: str | None = None
    allowed_hosts: list[str] | None = None
    webp_method: int = Field(default=4, ge=0, le=6)
    batch_size: int = Field(default=1024, ge=1, le=10_000)
    max_attempts: int = Field(default=5, ge=1, le=100)
    lease_seconds: float = Field(default=60.0, gt=0)

    @field_validator("import_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return [part for part in value.split(":") if part.strip()] or None
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()] or None
        return value


FIELDS = list(Reference.model_fields)
RAW = [
    "", " ", "null", "None", "0", "3", "-1", "9", "1e3", "2.5", "abc", "/a:/b", "/a: :/b",
    ":", "a,b", " a , ,b ", '["/a", "/b"]', "[]", '"x"', '{"a": 1}', "[1", "[1, 2]", "true",
    "NaN", "postgresql+psycopg://u:p@h/db", "./rel/dir", "60", "0.0", "10000", "10001",
]  # fmt: skip


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Exactly ``values`` as the MODEL_MIGRATE_* variables (any case), restored after."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.upper().startswith("MODEL_MIGRATE_"):
            del os.environ[key]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def outcome(cls: type[Any], **kwargs: Any) -> tuple[str, Any]:
    """The values read, or the validation errors raised (without pydantic's doc links)."""
    try:
        return "ok", cls(**kwargs).model_dump()
    except ValidationError as exc:
        errors = [{k: v for k, v in e.items() if k != "url"} for e in exc.errors()]
        return "error", (exc.error_count(), errors)


def assert_same(env: dict[str, str], **kwargs: Any) -> None:
    with environment(env):
        ours, theirs = outcome(Settings, **kwargs), outcome(Reference, **kwargs)
    assert ours == theirs, env


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("raw", RAW)
def test_each_setting_reads_every_value_as_pydantic_settings_did(field: str, raw: str) -> None:
    assert_same({f"MODEL_MIGRATE_{field.upper()}": raw})


def test_no_variables_give_the_defaults() -> None:
    assert_same({})
    with environment({}):
        assert Settings().data_dir == Path("./data")


def test_names_match_in_any_case_and_unknown_ones_are_ignored() -> None:
    env = {
        "model_migrate_data_dir": "/lower",
        "Model_Migrate_Webp_Method": "6",
        "MODEL_MIGRATE_NOT_A_SETTING": "x",
    }
    assert_same(env)
    with environment(env):
        assert (Settings().data_dir, Settings().webp_method) == (Path("/lower"), 6)


def test_values_given_in_code_win_over_the_environment() -> None:
    env = {"MODEL_MIGRATE_DATA_DIR": "/env", "MODEL_MIGRATE_DATABASE_URL": "sqlite:///x.db"}
    assert_same(env, data_dir=Path("/code"), database_url=None)
    assert_same(env, import_roots="/a:/b", unknown="ignored")
    assert_same(env, webp_method=99)
    with environment(env):
        assert Settings(database_url=None).database_url is None


def test_several_bad_values_are_all_reported() -> None:
    env = {"MODEL_MIGRATE_WEBP_METHOD": "9", "MODEL_MIGRATE_BATCH_SIZE": "0"}
    assert_same(env)
    with environment(env), pytest.raises(ValidationError) as caught:
        Settings()
    assert [e["loc"] for e in caught.value.errors()] == [("webp_method",), ("batch_size",)]


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(FIELDS),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
        max_size=4,
    )
)
def test_any_environment_reads_the_same(values: dict[str, str]) -> None:
    assert_same({f"MODEL_MIGRATE_{k.upper()}": v for k, v in values.items()})
