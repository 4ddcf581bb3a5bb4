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
from polaretl.extract.base import Chunk, Extractor
from polaretl.extract.csv import CsvExtractor
from polaretl.load.base import Loader
from polaretl.load.postgres import Mode, PostgresLoader
from polaretl.pipeline import Pipeline
from polaretl.record.result import RunResult
from polaretl.transform import Transformer
from polaretl.validate.base import Split, Validator
from polaretl.validate.contract import ContractValidator

__version__ = "0.1.0"

__all__ = [
    "Chunk",
    "ConfigError",
    "ContractError",
    "ContractValidator",
    "CopyError",
    "CsvExtractor",
    "ExtractError",
    "Extractor",
    "LoadError",
    "Loader",
    "Mode",
    "Pipeline",
    "PipelineNotFoundError",
    "PolaretlError",
    "PostgresLoader",
    "RecordError",
    "RunFailedError",
    "RunLockedError",
    "RunResult",
    "Split",
    "Transformer",
    "Validator",
    "quarantine",
    "runs",
    "submit",
    "wait",
]
