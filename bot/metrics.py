"""Prometheus metrics of one running bot (its own registry: several apps can live in a test)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter("supportbot_messages", "Messages answered, by channel and action",
                                ["channel", "action"], registry=self.registry)
        self.intents = Counter("supportbot_intents", "Predicted intents", ["intent"], registry=self.registry)
        self.fallbacks = Counter("supportbot_fallbacks", "Messages the bot could not answer",
                                 registry=self.registry)
        self.replayed = Counter("supportbot_replayed_messages", "Messages sent again under a key already stored "
                                "(answered with the stored turn, not stored twice)", registry=self.registry)
        self.latency = Histogram("supportbot_reply_seconds", "Time from message to stored reply",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.requests = Counter("supportbot_http_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.refused = Counter("supportbot_refused", "Chat messages refused before any work (not stored), by "
                               "reason: address (over its rate), overload (too many in flight)",
                               ["reason"], registry=self.registry)
        self.bundle = Gauge("supportbot_bundle_info", "The bundle being served (value 1)",
                            ["version"], registry=self.registry)
        self.batch_size = Histogram("supportbot_inference_batch_size", "Messages per model call",
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        self.telegram_dropped = Counter("supportbot_telegram_dropped_updates",
                                        "Telegram updates dropped unanswered: a chat's backlog full, "
                                        "shutting down, or an update that could not be read",
                                        ["reason"], registry=self.registry)
        self.telegram_gave_up = Counter("supportbot_telegram_send_failures",
                                        "Telegram messages given up after 429s beyond the retry bound",
                                        registry=self.registry)

    def set_bundle(self, version: str) -> None:
        self.bundle.clear()
        self.bundle.labels(version=version).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
