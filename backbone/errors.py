"""One exception tree for the whole backbone.

Retry and dead-letter logic reads the attributes (``retriable``, ``code``) instead of
parsing messages, the way aiokafka's errors do.
"""

from __future__ import annotations


class BackboneError(Exception):
    """Root of every error the backbone raises on purpose."""

    retriable: bool = False
    code: str = "backbone_error"

    def __init__(self, message: str, *, code: str | None = None, retriable: bool | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        if retriable is not None:
            self.retriable = retriable

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class ConfigurationError(BackboneError):
    code = "configuration"


class ValidationError(BackboneError):
    """Input from a channel that we refuse; the sender gets ``code`` as the reason."""

    code = "invalid"

    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None):
        super().__init__(message, code=code)
        self.field = field


class SerializationError(BackboneError):
    """A record could not be encoded into or decoded from the wire format."""

    code = "serialization"


class SchemaRegistryError(BackboneError):
    """The schema registry refused or could not be reached."""

    code = "schema_registry"
    retriable = True
    retry_after_s: float = 2.0


class SchemaNotReadyError(SchemaRegistryError):
    """A schema this process needs has not been resolved yet (the registry has not answered
    since start): refuse now, never ask the registry on the hot path; the source retries."""

    code = "schemas_not_ready"


class PublishError(BackboneError):
    """Kafka did not confirm a record; the caller must not acknowledge the source."""

    code = "publish_failed"
    retriable = True


class BackpressureError(PublishError):
    """The bounded publish buffer is full: refuse now, the source retries later."""

    code = "backpressure"
    retriable = True

    def __init__(self, message: str, *, retry_after_s: float = 1.0):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StackError(BackboneError):
    """The local stack (Kafka, registry) could not be fetched, started or reached."""

    code = "stack"
