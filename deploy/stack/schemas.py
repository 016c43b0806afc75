"""Register every version of the Avro contracts under their topics' subjects, oldest first,
with BACKWARD_TRANSITIVE compatibility, so the registry itself refuses a breaking change."""

from __future__ import annotations

from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError as _RegistryError

from backbone import serde
from backbone.errors import SchemaRegistryError
from backbone.settings import Settings

# Which record each Avro topic carries (TopicNameStrategy: subject = "<topic>-value").
AVRO_TOPICS = {
    "interactions": serde.INTERACTION_EVENT,
    "customer-events": serde.INTERACTION_EVENT,
    "handoffs": serde.INTERACTION_EVENT,
    "dead-letters": serde.DEAD_LETTER,
    "profile-changes": serde.PROFILE_CHANGE,
}
COMPATIBILITY = "BACKWARD_TRANSITIVE"


def register_contracts(settings: Settings) -> dict[str, int]:
    """Returns subject → id of the newest version registered."""
    client = serde.registry_client(settings)
    registered: dict[str, int] = {}
    for topic, name in AVRO_TOPICS.items():
        subject = f"{settings.topic(topic)}-value"
        try:
            client.set_compatibility(subject_name=subject, level=COMPATIBILITY)
            for path in serde.schema_versions(name):
                registered[subject] = client.register_schema(
                    subject, Schema(path.read_text(), "AVRO"))
        except _RegistryError as exc:
            raise SchemaRegistryError(
                f"registering {name} under {subject} failed (HTTP {exc.http_status_code}): "
                f"{exc.error_message}") from exc
    return registered
