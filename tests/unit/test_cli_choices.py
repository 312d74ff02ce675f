"""The CLI's strategy choices are the domain's lists (the CLI spells them out to start fast)."""

from __future__ import annotations

from backend.cli import commands
from backend.database.migration.conflicts import LEGACY_STRATEGIES, Strategy


def test_on_conflict_offers_exactly_the_legacy_strategies() -> None:
    assert list(commands.LEGACY_STRATEGIES.choices) == [s.value for s in LEGACY_STRATEGIES]


def test_strategy_arguments_offer_every_strategy() -> None:
    assert list(commands.STRATEGIES.choices) == [s.value for s in Strategy]
