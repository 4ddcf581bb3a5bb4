"""polaretl: batch ETL from many sources into PostgreSQL, built on Polars.

``import polaretl as pe``; see the README for a tour.

The package is layered along the data path; a module imports its own layer and those
below it, never one above (tests/test_layers.py keeps it so):

    core (errors, settings, core types, db) < extract < validate < transform < load
    < definition, workspace < record < quality < alerts < run
    < pipeline, api, cli, app (the entry points)

`Pipeline` is the object a user builds; it sits with the entry points because
``Pipeline.run()`` starts the run lifecycle in ``run/``. What the layers below need of a
pipeline, its stages and settings, is its base class `polaretl.definition.Definition`.
"""

from polaretl.alerts import (
    Apprise,
    Channel,
    Duration,
    Email,
    FailureRate,
    Log,
    Rule,
    RunFailed,
    SchemaChange,
    Slack,
    VolumeDrop,
    Webhook,
)
from polaretl.api import (
    discard,
    lineage,
    quarantine,
    replay,
    runs,
    schema_history,
    submit,
    wait,
)
from polaretl.core import OnDuplicate
from polaretl.errors import (
    BrokerError,
    ConfigError,
    ContractError,
    CopyError,
    ExtractError,
    LoadError,
    PipelineNotFoundError,
    PolaretlError,
    RecordError,
    RunFailedError,
    RunLockedError,
)
from polaretl.extract import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    Chunk,
    CsvExtractor,
    CursorPaginator,
    Extractor,
    LinkHeaderPaginator,
    NdjsonExtractor,
    NextUrlPaginator,
    OAuth2ClientCredentials,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
    ParquetExtractor,
    PgDumpExtractor,
    RestExtractor,
    SqlExtractor,
    XmlExtractor,
)
from polaretl.load.base import Loader
from polaretl.load.postgres import Mode, PostgresLoader
from polaretl.pipeline import Pipeline
from polaretl.record.runs import RunResult
from polaretl.transform import Transformer
from polaretl.validate.base import Split, Validator
from polaretl.validate.contract import ContractValidator

__version__ = "0.1.0"

__all__ = [
    "ApiKeyAuth",
    "Apprise",
    "BasicAuth",
    "BearerAuth",
    "BrokerError",
    "Channel",
    "Chunk",
    "ConfigError",
    "ContractError",
    "ContractValidator",
    "CopyError",
    "CsvExtractor",
    "CursorPaginator",
    "Duration",
    "Email",
    "ExtractError",
    "Extractor",
    "FailureRate",
    "LinkHeaderPaginator",
    "LoadError",
    "Loader",
    "Log",
    "Mode",
    "NdjsonExtractor",
    "NextUrlPaginator",
    "OAuth2ClientCredentials",
    "OffsetPaginator",
    "OnDuplicate",
    "PageNumberPaginator",
    "Paginator",
    "ParquetExtractor",
    "PgDumpExtractor",
    "Pipeline",
    "PipelineNotFoundError",
    "PolaretlError",
    "PostgresLoader",
    "RecordError",
    "RestExtractor",
    "Rule",
    "RunFailed",
    "RunFailedError",
    "RunLockedError",
    "RunResult",
    "SchemaChange",
    "Slack",
    "Split",
    "SqlExtractor",
    "Transformer",
    "Validator",
    "VolumeDrop",
    "Webhook",
    "XmlExtractor",
    "discard",
    "lineage",
    "quarantine",
    "replay",
    "runs",
    "schema_history",
    "submit",
    "wait",
]
