"""Process wiring: build each part from settings (the composition root)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from ingest.decode import Limits
from ingest.pipeline import Pipeline
from ingest.world import WorldView
from keywatch.db import make_engine, make_sessionmaker
from keywatch.settings import Settings
from rules.params import RuleParams


def build_pipeline(settings: Settings, engine: Engine | None = None) -> Pipeline:
    engine = engine or make_engine(settings.database_url)
    limits = Limits(
        max_payload_bytes=settings.max_payload_bytes,
        max_items=settings.max_batch_fixes,
        max_age_s=settings.max_fix_age,
        max_future_s=settings.max_future,
    )
    return Pipeline(
        factory=make_sessionmaker(engine),
        limits=limits,
        world=WorldView(settings.metric_crs, tz=settings.zone,
                        cooldown_s=settings.incident_cooldown),
        params=RuleParams.load(settings.rules_file),
        tz=settings.zone,
    )


def build_ingest_worker(settings: Settings, *, client_id: str | None = None):  # type: ignore[no-untyped-def]
    from ingest.gaps import GapScanner
    from ingest.mqtt import BrokerAddress
    from ingest.slots import IngestGroup
    from ingest.worker import IngestWorker

    consumer = IngestGroup(BrokerAddress.parse(settings.mqtt_url),
                           client_id or settings.mqtt_client_id,
                           database_url=settings.database_url, slots=settings.ingest_slots,
                           topic=settings.ingest_topic,
                           session_expiry_s=settings.mqtt_session_expiry,
                           claim_every_s=settings.ingest_claim_every,
                           resync_every_s=settings.ingest_resync_every)
    pipeline = build_pipeline(settings)
    gaps = GapScanner(pipeline.factory.kw["bind"], every_s=settings.gap_scan_interval,
                      delay_s=settings.gap_scan_delay)
    return IngestWorker(pipeline, consumer, batch_size=settings.batch_size,
                        batch_ms=settings.batch_ms,
                        max_age_days=int(settings.max_fix_age // 86400) + 1,
                        retention_days=settings.retention_days, gaps=gaps,
                        name=client_id or settings.mqtt_client_id)
