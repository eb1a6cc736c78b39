"""docs/grafana-dashboard.json is valid JSON and charts only series the bot exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"


def exposed_names() -> set[str]:
    metrics = Metrics(process="test")
    # Every labelled series once, so each family has samples (histograms: _bucket, _count, _sum).
    metrics.updates.labels("command", "ok").inc()
    metrics.update_seconds.labels("command").observe(0.1)
    metrics.bot_api_calls.labels("sendMessage", "ok").inc()
    metrics.harbor_requests.labels("GET", "token", "200").inc()
    metrics.harbor_seconds.labels("GET", "token").observe(0.1)
    metrics.keys_issued.labels("dropoff").inc()
    metrics.checks.labels("harbor").state("ok")
    metrics.scheduler_lag.labels("watch").set(0)
    metrics.deliveries.labels("completed").set(1)
    page = metrics.exposition().decode()
    return {sample.name for family in text_string_to_metric_families(page) for sample in family.samples}


def test_every_series_charted_exists() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\bharbor_bot_[a-z_]+\b", expr)}
    assert used - exposed_names() == set()
    assert len(dashboard["panels"]) >= 12
