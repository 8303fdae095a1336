"""``ruvon --help`` start-up time against a bare typer app with as many commands, in one run.

Both run as ``python <launcher> --help`` in fresh subprocesses, alternating, and the medians are
compared. The baseline app has the same commands (names, a group with the same subcommands) with
one option each and no bodies, so the ratio is what ruvon adds on top of typer itself.

Run: python bench/bench_cli.py [ROUNDS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

from ruvon.cli.main import app

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
TARGET = 1.3

WORKLOAD = "from ruvon.cli.main import run\nrun()\n"


def command_shape() -> tuple[list[str], dict[str, list[str]]]:
    """The top-level command names and each group's subcommand names of ruvon's app."""
    group = typer.main.get_command(app)
    plain: list[str] = []
    groups: dict[str, list[str]] = {}
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        if hasattr(command, "commands"):  # a group (typer may vendor its own click)
            groups[name] = sorted(command.commands)
        else:
            plain.append(name)
    return sorted(plain), groups


def baseline_source(plain: list[str], groups: dict[str, list[str]]) -> str:
    """A bare typer app with the same commands, each with one option and an empty body."""
    lines = ["import typer", "", "app = typer.Typer(no_args_is_help=True)", ""]
    for i, name in enumerate(plain):
        lines += [
            f"@app.command({name!r})",
            f"def c{i}(db: str = typer.Option('x', help='An option.')) -> None:",
            f'    """Command {name}."""',
            "",
        ]
    for g, (group, subs) in enumerate(groups.items()):
        lines += [f"g{g} = typer.Typer()", f"app.add_typer(g{g}, name={group!r})"]
        for i, name in enumerate(subs):
            lines += [
                f"@g{g}.command({name!r})",
                f"def g{g}c{i}(db: str = typer.Option('x', help='An option.')) -> None:",
                f'    """Command {group} {name}."""',
                "",
            ]
    lines += ["app()", ""]
    return "\n".join(lines)


def time_once(script: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "Usage" not in done.stdout:
        raise SystemExit(f"{script.name} --help failed:\n{done.stdout}{done.stderr}")
    return elapsed


def main() -> None:
    plain, groups = command_shape()
    count = len(plain) + sum(len(subs) for subs in groups.values())
    with tempfile.TemporaryDirectory() as tmp:
        workload = Path(tmp) / "ruvon_help.py"
        workload.write_text(WORKLOAD)
        baseline = Path(tmp) / "bare_typer.py"
        baseline.write_text(baseline_source(plain, groups))
        time_once(workload), time_once(baseline)  # warm the file cache and .pyc files
        ours: list[float] = []
        bare: list[float] = []
        for _ in range(ROUNDS):
            ours.append(time_once(workload))
            bare.append(time_once(baseline))
    ours_ms, bare_ms = statistics.median(ours) * 1000, statistics.median(bare) * 1000
    ratio = ours_ms / bare_ms
    print(
        f"workload: ruvon --help ({len(plain)} commands, groups {list(groups)}: {count} commands "
        f"in all), median of {ROUNDS} fresh processes: {ours_ms:.0f} ms"
    )
    print(f"baseline: a bare typer app with the same commands, --help: {bare_ms:.0f} ms")
    print(f"ratio:    {ratio:.2f}x (target <= {TARGET}x) {'OK' if ratio <= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
