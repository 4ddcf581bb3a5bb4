"""The one exception tree of polaretl.

```
PolaretlError
  ConfigError              [Terminal] bad pipeline definition or settings; never retried
    PipelineNotFoundError  [Terminal] no pipeline of that name in the workspace
  ExtractError             a source could not be read
    TransientExtractError  [Transient] a timeout, a 5xx, a reset: the read may be retried
  ContractError            [Terminal] a contract cannot be applied (bad rows are quarantined)
  LoadError                the destination refused a batch; it was rolled back
    CopyError              carries table, constraint
    TransientLoadError     [Transient] the connection dropped; the batch may be retried
    CheckpointConflictError [Terminal] another process committed the batch first
  RecordError              the polaretl schema could not be read or written
  RunLockedError           [Terminal] another run of the pipeline holds the lock
  RunFailedError           a run ended failed; carries run_id
  WaitTimeoutError         a run was still running when `wait` gave up (also a TimeoutError)
  BrokerError              [Transient] the Celery broker (Redis) cannot be reached
  ChannelError             an alert channel could not deliver (recorded, never raised out
                           of a run)
```

Every error keeps its context as attributes (see `attrs()`), pickles across worker
processes (`__reduce__`), and says what to do next in its message.

Retries go by kind, never by class: an error with the `Transient` mixin may succeed
when the same work is tried again (a dropped connection), and is what the batch commit,
reconnecting and the REST extractor retry; a `Terminal` one will fail the same way and
is never retried. An error with neither mixin (a constraint violation, a source that
cannot be read) is not retried either: retrying is opted into, not out of.
"""

from __future__ import annotations

from typing import Any


class Transient:
    """Mixin: retrying the same work may succeed."""


class Terminal:
    """Mixin: retrying the same work will fail the same way."""


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the work that raised `exc` may succeed: retries go by this kind.

    Example:
        >>> is_transient(TransientLoadError("dropped")), is_transient(ConfigError("bad"))
        (True, False)
    """
    return isinstance(exc, Transient)


class PolaretlError(Exception):
    """Base of every error polaretl raises on purpose."""

    def __init__(self, message: str, **attrs: Any) -> None:
        super().__init__(message)
        self.message = message
        for name, value in attrs.items():
            setattr(self, name, value)
        self._attrs = attrs

    def attrs(self) -> dict[str, Any]:
        """The context the error carries (table, run_id, ...), for records and alerts."""
        return dict(self._attrs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self._attrs))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[PolaretlError], message: str, attrs: dict[str, Any]) -> PolaretlError:
    return cls(message, **attrs)


class ConfigError(PolaretlError, Terminal):
    """A pipeline definition, contract or setting is wrong; fix it and run again."""


class PipelineNotFoundError(ConfigError):
    """No pipeline of that name in the workspace."""


class ExtractError(PolaretlError):
    """A source could not be read."""


class ContractError(PolaretlError, Terminal):
    """A contract cannot be applied to the source at all."""


class LoadError(PolaretlError):
    """The destination refused a batch; the batch was rolled back."""


class CopyError(LoadError):
    """COPY into the destination failed; carries `table` and `constraint`."""


class RecordError(PolaretlError):
    """The polaretl schema (runs, quarantine, checkpoints) could not be used."""


class RunLockedError(PolaretlError, Terminal):
    """Another run of the same pipeline holds its lock."""


class RunFailedError(PolaretlError):
    """A run ended failed; `run_id` names it and `polaretl show RUN_ID` has the details."""


class BrokerError(PolaretlError, Transient):
    """The Celery broker (Redis) cannot be reached; carries `url` (redacted)."""


class TransientExtractError(ExtractError, Transient):
    """A source failed in a way that may pass on retry (timeout, 5xx, reset)."""


class TransientLoadError(LoadError, Transient):
    """The database connection dropped; the batch was not committed and may be retried."""


class CheckpointConflictError(LoadError, Terminal):
    """Another process committed this slice's batch first; this copy stops."""


class WaitTimeoutError(PolaretlError, TimeoutError):
    """`wait` gave up on a run that is still running (catch it as a `TimeoutError` too)."""


class ChannelError(PolaretlError):
    """A channel could not deliver an alert (recorded, never raised out of a run)."""
