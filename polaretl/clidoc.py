"""The CLI reference (docs/cli.md), generated from the click commands.

``python -m polaretl.clidoc > docs/cli.md`` regenerates it; a test checks the file is
current, so the reference never drifts from the code.
"""

from __future__ import annotations

import click

from polaretl.cli import main


def reference() -> str:
    """Markdown: one section per command with its ``--help`` text."""
    ctx = click.Context(main, info_name="polaretl")
    parts = [
        "# polaretl CLI reference",
        "",
        "Generated from the code by `python -m polaretl.clidoc > docs/cli.md`.",
        "",
        "```text",
        main.get_help(ctx).rstrip(),
        "```",
    ]
    for name in sorted(main.list_commands(ctx)):
        command = main.get_command(ctx, name)
        assert command is not None
        sub = click.Context(command, info_name=name, parent=ctx)
        parts += ["", f"## `polaretl {name}`", "", "```text", command.get_help(sub).rstrip(), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(reference(), end="")
