"""A database password never shows, in any form libpq accepts a connection string in:
a URL (the password unencoded, with ``#``, ``?``, ``:`` and quotes libpq takes as is, or
percent-encoded), a ``?password=`` query parameter, key=value pairs (quoted, escaped,
spaces around ``=``), ``sslpassword``, and ``PGPASSWORD``.

The property tests draw passwords of any printable characters, build each form, keep
the strings libpq itself parses back to that password, and require the redacted text
not to depend on the password at all (so no part of it can show). The end-to-end tests
take such a password through the CLI's errors, a failed run's record and alert, and the
ops app's sidebar.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import polaretl as pe
from polaretl import redact
from polaretl.cli import main
from polaretl.redact import redact_text, redact_url, register_dsn
from tests.helpers import orders_csv, query

PRINTABLE = st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"])
PASSWORDS = st.text(PRINTABLE, min_size=1, max_size=24)


def _kv_quoted(pw: str) -> str:
    return "'" + pw.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _kv_escaped(pw: str) -> str:
    return re.sub(r"([\\ \t'])", r"\\\1", pw)


FORMS: dict[str, Callable[[str], str]] = {
    "url": lambda pw: f"postgresql://alice:{pw}@127.0.0.1:5432/db?sslmode=disable",
    "url_encoded": lambda pw: f"postgresql://alice:{quote(pw, safe='')}@db.example/db",
    "url_query": lambda pw: (
        f"postgresql://alice@127.0.0.1/db?sslmode=disable&password={pw}&application_name=x"
    ),
    "url_query_encoded": lambda pw: (
        f"postgres://127.0.0.1:5432/db?user=alice&password={quote(pw, safe='')}"
    ),
    "url_sslpassword": lambda pw: f"postgresql://alice@h/db?sslpassword={quote(pw, safe='')}",
    "kv_quoted": lambda pw: f"host=127.0.0.1 user=alice password={_kv_quoted(pw)} dbname=db",
    "kv_escaped": lambda pw: f"host=127.0.0.1 password={_kv_escaped(pw)} dbname=db",
    "kv_spaced": lambda pw: f"host = 127.0.0.1   password =  {_kv_quoted(pw)}  dbname = db",
    "kv_first": lambda pw: f"password={_kv_quoted(pw)} host=127.0.0.1",
    "kv_sslpassword": lambda pw: f"host=h sslpassword={_kv_escaped(pw)} dbname=db",
}


def libpq_password(dsn: str) -> str | None:
    """The password (or sslpassword) libpq reads from `dsn`; None if it refuses `dsn`."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return None
    return parts.get("password") or parts.get("sslpassword")


@contextlib.contextmanager
def nothing_registered() -> Iterator[None]:
    """The structural masking alone: no registered secret helps it."""
    saved = set(redact._registered)
    redact._registered.clear()
    try:
        yield
    finally:
        redact._registered.clear()
        redact._registered.update(saved)


def outputs(dsn: str) -> list[str]:
    """The connection string as polaretl shows one: alone, and inside a message, a
    traceback and a JSON text. (Redact before `repr`: a repr doubles the backslashes
    of key=value escapes, and the text is no longer libpq's syntax.)"""
    return [
        redact_url(dsn),
        redact_text(f"Cannot connect to PostgreSQL at {dsn}: connection refused"),
        redact_text(f"Traceback (most recent call last):\n  url = {dsn}\nOperationalError\n"),
        redact_text(f'{{"url": "{dsn}", "error": "timeout"}}'),
    ]


@pytest.mark.parametrize("form", sorted(FORMS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(pw=PASSWORDS)
@example(pw="Sup3r#Secr3t")
@example(pw="a b' \"c\\ d")
@example(pw="p?w:x#y'z\"")
@example(pw="pass word=1 password=2")
@example(pw="x://y@z/w")
@example(pw="nbsp\u00a0inside")
def test_redacted_output_does_not_depend_on_the_password(form: str, pw: str) -> None:
    build = FORMS[form]
    dsn = build(pw)
    assume(libpq_password(dsn) == pw)  # a form libpq accepts, with this very password
    with nothing_registered():
        got, template = outputs(dsn), outputs(build("placeholder"))
    assert got == template
    if len(pw) >= 4 and not any(pw in text for text in template):  # not "refu" in "refused"
        assert not any(pw in text for text in got)


@settings(max_examples=100, deadline=None)
@given(pw=PASSWORDS.filter(lambda p: len(p.strip()) >= 4), form=st.sampled_from(sorted(FORMS)))
def test_a_registered_password_is_masked_in_any_text(pw: str, form: str) -> None:
    dsn = FORMS[form](pw)
    assume(libpq_password(dsn) == pw)
    with nothing_registered():
        register_dsn(dsn)
        assert pw not in redact_text(f"authentication failed: {pw!s} / {quote(pw, safe='')}")


def test_pgpassword_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", "env-Secr3t#1")
    with nothing_registered():
        assert redact_text("login with env-Secr3t#1 failed") == "login with *** failed"
        assert redact_text("PGPASSWORD=whatever-else") == "PGPASSWORD=***"


# --- end to end ----------------------------------------------------------------------------

PASSWORD = "Sup3r#Secr3t 'q\" x"  # unencoded "#", a space, quotes: all taken by libpq


@pytest.fixture
def role(database_url: str) -> Iterator[dict[str, str]]:
    """A role with that password on the test database (trust auth ignores it, so it
    travels in the connection string as a real one would)."""
    name = "polaretl_dsn_role"
    literal = PASSWORD.replace("'", "''")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {name}")
        conn.execute(f"CREATE ROLE {name} LOGIN SUPERUSER PASSWORD '{literal}'")
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    yield {
        "user": name,
        "host": str(info.get("host", "127.0.0.1")),
        "port": str(info.get("port", 5432)),
        "dbname": str(info["dbname"]),
    }
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {name}")
        conn.execute(f"DROP ROLE IF EXISTS {name}")


def dsns(role: dict[str, str], port: str | None = None) -> dict[str, str]:
    """The role's connection string in each form (to `port` when given)."""
    host, port, db, user = role["host"], port or role["port"], role["dbname"], role["user"]
    url_pw = PASSWORD.replace(" ", "%20")  # libpq refuses a space in a URL, takes the rest
    return {
        "url": f"postgresql://{user}:{url_pw}@{host}:{port}/{db}",
        "kv": f"host={host} port={port} user={user} password={_kv_quoted(PASSWORD)} dbname={db}",
    }


def shows_password(text: str) -> bool:
    return any(part in text for part in ("Sup3r", "Secr3t", PASSWORD.replace(" ", "%20")))


@pytest.mark.postgres
@pytest.mark.parametrize("form", ["url", "kv"])
def test_the_cli_never_prints_the_password(role, form: str) -> None:
    dsn = dsns(role, port="1")[form]  # nothing listens on port 1
    assert libpq_password(dsn) == PASSWORD
    result = CliRunner().invoke(main, ["runs", "--database-url", dsn], catch_exceptions=False)
    said = result.stdout + result.stderr
    assert result.exit_code == 1
    assert "Cannot connect to PostgreSQL at " in said and "***" in said
    assert not shows_password(said), said


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:Sup3r Secr3t@127.0.0.1/db",  # libpq: "unexpected spaces found in ..."
        "host=127.0.0.1 password='Sup3r Secr3t",  # an unterminated quote
        "host=127.0.0.1 Sup3rSecr3t",  # libpq: missing "=" after "Sup3rSecr3t"
    ],
)
def test_a_connection_string_libpq_refuses_is_a_clear_error_without_its_parts(dsn: str) -> None:
    result = CliRunner().invoke(main, ["runs", "--database-url", dsn], catch_exceptions=False)
    said = " ".join((result.stdout + result.stderr).split())
    assert result.exit_code == 1
    assert "The database URL is not a connection string PostgreSQL accepts" in said
    assert not shows_password(said), said


@pytest.mark.postgres
@pytest.mark.parametrize("form", ["url", "kv"])
def test_a_failed_run_records_no_password(tmp_path: Path, role, database_url, form, caplog):
    from contracts.orders import Order
    from polaretl.alerts import Log, RunFailed

    caplog.set_level(logging.DEBUG)
    dsn = dsns(role)[form]
    orders_csv(tmp_path / "a.csv", 5)

    def leak(lf):  # an error whose message carries the connection string, as some do
        raise RuntimeError(f"cannot reach {dsn}")

    bad = pe.Pipeline(
        "leaky",
        extractor=pe.CsvExtractor(str(tmp_path / "a.csv")),
        contract=Order,
        transforms=[leak],
        loader=pe.PostgresLoader("orders"),
        alerts=[RunFailed(channels=[Log()])],
    )
    with pytest.raises(pe.RunFailedError) as info:
        bad.run(database_url=dsn)
    assert not shows_password(str(info.value)) and "***" in str(info.value)
    (error, trace), *_ = query(database_url, "SELECT error, traceback FROM polaretl.runs")
    assert error.startswith("RuntimeError: cannot reach ") and "***" in error
    assert not shows_password(error + trace)
    (message,) = query(database_url, "SELECT message FROM polaretl.alerts")[0]
    assert not shows_password(message)
    assert not shows_password(caplog.text)


@pytest.mark.postgres
@pytest.mark.parametrize("form", ["url", "kv"])
def test_the_app_sidebar_shows_the_database_without_its_password(role, monkeypatch, form):
    from streamlit.testing.v1 import AppTest

    from polaretl import app

    dsn = dsns(role)[form]
    monkeypatch.setenv("POLARETL_DATABASE_URL", dsn)
    monkeypatch.setenv("POLARETL_APP_PROJECT", str(Path.cwd()))
    at = AppTest.from_file(str(app.MAIN), default_timeout=60).run()
    assert not at.exception
    captions = [c.value for c in at.sidebar.caption]
    shown = [c for c in captions if c.startswith("database: ")]
    assert shown == [f"database: {redact_url(dsn)}"] and "***" in shown[0]
    assert not shows_password(" ".join(captions))
