"""Conflict decisions shared by the stage-1 and stage-2 import steps: which strategy applies to
an item, and the transitions that record it."""

from __future__ import annotations

from backend.database.migration.artifacts import Artifacts, Conflict
from backend.database.migration.conflicts import WRITING_STRATEGIES, Strategy
from backend.database.migration.steps.context import StepEnv
from workflows.records import WorkItem
from workflows.steps import Transition


def item_strategy(env: StepEnv, item: WorkItem) -> tuple[Strategy | None, bool]:
    """The conflict strategy for this item and whether a person already chose it."""
    if item.strategy:
        return Strategy(item.strategy), True
    option = env.options.for_run(item.run_id).get("on_conflict")
    return (Strategy(option) if option else None), False


def conflict_transitions(
    item: WorkItem, strategy: Strategy | None, decided: bool, conflict: Conflict
) -> list[Transition] | None:
    """Transitions for a conflicted item, or None when the strategy writes the model.

    Without a strategy the item waits in ``conflicted``. A strategy given up front is recorded
    as a ``conflict`` then a ``resolve`` event, so every decision is in the item's history.
    """
    Artifacts.of(item).conflict = conflict
    if strategy is None:
        return ["conflict"]
    item.strategy = strategy.value
    if strategy in WRITING_STRATEGIES:
        return None
    return ["conflict", ("resolve", {"strategy": strategy.value})]


def with_decision(decided: bool, strategy: Strategy) -> list[Transition]:
    """A writing strategy's transitions: the decision (unless a person made it on the item)
    recorded as ``conflict`` then ``resolve``, then the import."""
    if decided:
        return ["import_model"]
    return ["conflict", ("resolve", {"strategy": strategy.value}), "import_model"]
