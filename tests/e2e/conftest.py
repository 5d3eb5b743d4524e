"""What the end-to-end tests share: running the CLI in-process (the demo dataset and its scored
run are fixtures of tests/conftest.py, shared with the web tests)."""

from __future__ import annotations

from customer_health.cli import main


def cli(capsys, *args: str, code: int = 0) -> str:
    """Run the CLI in-process; assert its exit code and return what it printed (out and err)."""
    capsys.readouterr()
    got = main(list(args))
    out = capsys.readouterr()
    assert got == code, out.err
    return out.out + out.err
