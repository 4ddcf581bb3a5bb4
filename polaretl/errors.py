"""The one exception tree of polaretl.

```
PolaretlError
  ConfigError            # bad pipeline definition or settings; never retried
    PipelineNotFoundError
  ExtractError           # a source could not be read
  ContractError          # a contract cannot be applied (not a bad row: those are quarantined)
  LoadError              # the destination refused a batch
    CopyError            # carries table, batch
  RecordError            # the polaretl schema could not be read or written
  RunLockedError         # another run of the pipeline holds the lock
  RunFailedError         # a run ended failed; carries run_id
  BrokerError            # the Celery broker (Redis) cannot be reached
```

Every error keeps its context as attributes (see `attrs()`), pickles across worker
processes (`__reduce__`), and says what to do next in its message. `Transient`
errors may succeed when retried (a dropped connection); `Terminal` ones will not.
"""

from __future__ import annotations

from typing import Any


class Transient:
    """Mixin: retrying the same work may succeed."""


class Terminal:
    """Mixin: retrying the same work will fail the same way."""


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
    """COPY into the destination failed; carries `table` and `batch`."""


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
