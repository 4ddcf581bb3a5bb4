"""The pg_dump family: `PgDumpExtractor` (extractor.py) over a lexer that finds statement
boundaries without executing anything (read.py), the heads of the statements it reads
(statements.py), table names (names.py), and the decoding of ``COPY`` text data
(copy_text.py) and ``INSERT`` value tuples (inserts.py)."""

from polaretl.extract.pgdump.extractor import PgDumpExtractor

__all__ = ["PgDumpExtractor"]
