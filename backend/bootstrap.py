"""The composition root: settings → engine, schema, session factories, store, steps, service.

The CLI, the Flask app, the demo and the benchmarks build through here; nothing else builds
an engine or a service. Importing this module loads only the settings, the schema check and
the read-only facade (:func:`build_reads`, for ``status``); :func:`build` imports the
service's modules (the ORM, the steps, Pillow, the state machine) when it first runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backend.config import Settings
from backend.database import schema
from backend.database.migration.run_reads import RunReads

if TYPE_CHECKING:
    from backend.database.migration.service import MigrationService
    from backend.database.migration.wiring import Wiring


def import_service() -> None:
    """Import the modules :func:`build_service` and a run need, building nothing (a process
    that forks workers imports them first, for its workers to share)."""
    from backend.database.migration import service  # noqa: F401
    from backend.database.migration.steps import legacy, promotion  # noqa: F401


def build(settings: Settings) -> Wiring:
    """Every collaborator of the use cases, on the library at head revision."""
    from backend.database.migration.claims import claim_weight
    from backend.database.migration.hashing import HashCache
    from backend.database.migration.pending_batch import PendingBatch
    from backend.database.migration.resources import LegacyReaders, RunOptions, ThreadDrivers
    from backend.database.migration.results import RunKind
    from backend.database.migration.steps.context import StepEnv
    from backend.database.migration.steps.legacy import legacy_steps
    from backend.database.migration.steps.promotion import promotion_steps
    from backend.database.migration.summary import ModelLookup
    from backend.database.migration.types import TypeMap
    from backend.database.migration.wiring import Wiring
    from backend.database.session import make_session_factory, writer
    from workflows.steps import Steps
    from workflows.store import WorkflowStore

    engine = schema.open_library(settings)
    sessions = make_session_factory(engine)
    write_sessions = make_session_factory(writer(engine))
    store = WorkflowStore(engine)
    pending = PendingBatch(sessions)
    options = RunOptions(store)
    readers = LegacyReaders(options, scratch_dir=settings.data_dir / "tmp")
    env = StepEnv(
        sessions=sessions,
        write_sessions=write_sessions,
        images_dir=settings.images_dir,
        pending_dir=settings.pending_images_dir,
        webp_method=settings.webp_method,
        readers=readers,
        options=options,
        hash_cache=HashCache(write_sessions),
        import_roots=settings.import_roots,
        types=TypeMap.load(settings.data_dir),
        pending=pending,
    )
    steps: Steps = {
        RunKind.LEGACY: legacy_steps(env),
        RunKind.PROMOTION: promotion_steps(env),
    }
    return Wiring(
        settings=settings,
        engine=engine,
        sessions=sessions,
        write_sessions=write_sessions,
        store=store,
        env=env,
        readers=readers,
        drivers=ThreadDrivers.on(
            engine,
            steps,
            lease_seconds=settings.lease_seconds,
            claim_weight=claim_weight(),
            on_claim=pending.load,
        ),
        models=ModelLookup(sessions, settings.images_dir, readers.for_run, env.types),
    )


def build_service(settings: Settings) -> MigrationService:
    """The service the CLI and the HTTP API call, on a freshly built wiring."""
    from backend.database.migration.service import MigrationService

    return MigrationService(build(settings))


def build_reads(settings: Settings) -> RunReads:
    """The read-only facade of ``model-migrate status``: run status on the library's engine,
    its schema checked as :func:`build` checks it (and upgraded when behind)."""
    return RunReads(settings, schema.open_library(settings))
