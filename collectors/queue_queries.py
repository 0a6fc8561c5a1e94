"""Queue lag and backlog queries: one built-in PromQL per queue kind, plus the ones a config adds.

The answer of each query is stored under its name (`queue_lag:<kind>` for the built-ins,
`queue_lag:<kind>:<name>` for added ones), as in a RecordedSignals file, so live and recorded
answers go through the same conversion (`collectors.recordings.signals_from_queries`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class QueueQuery:
    """One instant query answering one series per queue."""

    name: str
    kind: str
    query: str
    queue_label: str
    unit: str = "messages"
    service: str | None = None

    def recorded(self, data: Any) -> dict[str, Any]:
        """The answer as a RecordedSignals entry."""
        out: dict[str, Any] = {"query": self.query, "data": data}
        if self.service is not None:  # an added query: say how to read it back
            out.update(service=self.service, queue_label=self.queue_label, unit=self.unit)
        return out


BUILTIN: dict[str, QueueQuery] = {
    # kafka_exporter (danielqsj): lag per partition; summed per consumer group and topic
    "kafka": QueueQuery("queue_lag:kafka", "kafka", "sum by (consumergroup, topic) (kafka_consumergroup_lag)", "topic"),
    # RabbitMQ's built-in Prometheus plugin (per-object metrics) and kbudde's exporter
    "rabbitmq": QueueQuery(
        "queue_lag:rabbitmq", "rabbitmq", "sum by (queue, vhost) (rabbitmq_queue_messages_ready)", "queue"
    ),
    # prometheus/cloudwatch_exporter with AWS/SQS ApproximateAgeOfOldestMessage, statistic Maximum
    "sqs": QueueQuery(
        "queue_lag:sqs",
        "sqs",
        "max by (queue_name) (aws_sqs_approximate_age_of_oldest_message_maximum)",
        "queue_name",
        unit="seconds",
    ),
    # danihodovic/celery-exporter
    "celery": QueueQuery("queue_lag:celery", "celery", "sum by (queue_name) (celery_queue_length)", "queue_name"),
    # oliver006/redis_exporter with --check-keys / --check-single-keys on the list keys used as queues
    "redis": QueueQuery("queue_lag:redis", "redis", "sum by (db, key) (redis_key_size)", "key"),
}

QUEUE_LABEL = {k: q.queue_label for k, q in BUILTIN.items()}
QUEUE_UNIT = {k: q.unit for k, q in BUILTIN.items()}


def queries_for(kinds: Iterable[str], added: Iterable[Any] = ()) -> list[QueueQuery]:
    """The built-in queries of `kinds`, then the added ones (QueueQueryConfig-like objects)."""
    out = [BUILTIN[k] for k in kinds if k in BUILTIN]
    for q in added:
        out.append(
            QueueQuery(
                name=f"queue_lag:{q.kind}:{q.name}",
                kind=q.kind,
                query=q.query,
                queue_label=q.queue_label,
                unit=q.unit,
                service=q.service,
            )
        )
    return out
