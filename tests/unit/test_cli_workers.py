"""``--workers auto|N``: auto is every usable CPU, the default of legacy, promote and demo."""

from __future__ import annotations

import os

import click
import pytest
from click.testing import CliRunner

from backend.cli import main
from backend.cli.workers import WorkerCount, usable_cpus

COMMANDS = {"legacy": 64, "promote": 64, "demo": 8}


def command_of(name: str) -> click.Command:
    assert isinstance(main, click.Group)
    return main.commands[name]


def workers_param(command: str) -> click.Parameter:
    return next(p for p in command_of(command).params if p.name == "workers")


def test_auto_is_the_affinity_mask_not_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 3, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert usable_cpus() == 3
    assert WorkerCount(64).convert("auto", None, None) == 3
    assert WorkerCount(64).convert(" AUTO ", None, None) == 3


def test_auto_falls_back_to_the_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert usable_cpus() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cpus() == 1


def test_auto_is_capped_by_the_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(96)), raising=False)
    assert WorkerCount(64).convert("auto", None, None) == 64
    assert WorkerCount(8).convert("auto", None, None) == 8


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_default_is_auto_and_help_says_so(command: str) -> None:
    param = workers_param(command)
    assert param.default == "auto"
    assert isinstance(param.type, WorkerCount)
    assert param.type.maximum == COMMANDS[command]
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "[default: auto]" in result.output


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_default_resolves_to_the_usable_cpus(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {1, 2}, raising=False)
    param = workers_param(command)
    with click.Context(command_of(command)) as ctx:
        assert param.type_cast_value(ctx, param.get_default(ctx)) == 2


@pytest.mark.parametrize("value", [1, "1", "7", " 64 "])
def test_a_number_is_kept(value: object) -> None:
    assert WorkerCount(64).convert(value, None, None) == int(str(value))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "0 is not in 1..64 (or 'auto')"),
        ("65", "65 is not in 1..64 (or 'auto')"),
        ("-2", "-2 is not in 1..64 (or 'auto')"),
        ("two", "'two' is neither 'auto' nor a whole number"),
        ("1.5", "'1.5' is neither 'auto' nor a whole number"),
        ("", "'' is neither 'auto' nor a whole number"),
    ],
)
def test_a_bad_value_is_a_usage_error(value: str, message: str) -> None:
    result = CliRunner().invoke(main, ["legacy", "old.db", "images", "--workers", value])
    assert result.exit_code == 2
    assert "Invalid value for '--workers'" in result.output
    assert message in result.output


def test_demo_refuses_more_than_its_maximum() -> None:
    result = CliRunner().invoke(main, ["demo", "--workers", "9"])
    assert result.exit_code == 2
    assert "9 is not in 1..8 (or 'auto')" in result.output
