"""polaretl: batch ETL from many sources into PostgreSQL, built on Polars.

``import polaretl as pe``; see the README for a tour.
"""

from polaretl.api import quarantine, runs, submit, wait
from polaretl.errors import (
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
from polaretl.record.result import RunResult
from polaretl.transform import Transformer
from polaretl.validate.base import Split, Validator
from polaretl.validate.contract import ContractValidator

__version__ = "0.1.0"

__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "Chunk",
    "ConfigError",
    "ContractError",
    "ContractValidator",
    "CopyError",
    "CsvExtractor",
    "CursorPaginator",
    "ExtractError",
    "Extractor",
    "LinkHeaderPaginator",
    "LoadError",
    "Loader",
    "Mode",
    "NdjsonExtractor",
    "NextUrlPaginator",
    "OAuth2ClientCredentials",
    "OffsetPaginator",
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
    "RunFailedError",
    "RunLockedError",
    "RunResult",
    "Split",
    "SqlExtractor",
    "Transformer",
    "Validator",
    "XmlExtractor",
    "quarantine",
    "runs",
    "submit",
    "wait",
]
