"""Sources: every extractor polaretl ships, one module each."""

from polaretl.extract.base import Chunk, Extractor
from polaretl.extract.csv import CsvExtractor
from polaretl.extract.ndjson import NdjsonExtractor
from polaretl.extract.parquet import ParquetExtractor
from polaretl.extract.pgdump import PgDumpExtractor
from polaretl.extract.rest import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OAuth2ClientCredentials,
    OffsetPaginator,
    PageNumberPaginator,
    Paginator,
    RestExtractor,
)
from polaretl.extract.sql import SqlExtractor
from polaretl.extract.xml import XmlExtractor

__all__ = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "Chunk",
    "CsvExtractor",
    "CursorPaginator",
    "Extractor",
    "LinkHeaderPaginator",
    "NdjsonExtractor",
    "NextUrlPaginator",
    "OAuth2ClientCredentials",
    "OffsetPaginator",
    "PageNumberPaginator",
    "Paginator",
    "ParquetExtractor",
    "PgDumpExtractor",
    "RestExtractor",
    "SqlExtractor",
    "XmlExtractor",
]
