"""Commands about definitions and workers: ``validate``, ``graph`` and ``worker``.

Registered on the app by :mod:`ruvon.cli.main`. The engine is imported inside the commands.
"""

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from ruvon.cli.exits import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    err,
    exit_code,
    finish,
    out,
    session_for,
)
from ruvon.cli.options import ConfigDir, Json, Params
from ruvon.cli.render import print_error


def validate(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Workflow definition YAML files, or directories of them.", show_default=False
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Also check every in-flight workflow stored there against the current code.",
        ),
    ] = None,
    config_dir: ConfigDir = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Treat warnings as errors (exit 1 if any).")
    ] = False,
    graph: Annotated[
        bool, typer.Option("--graph", help="Also print each valid file as a Mermaid flowchart.")
    ] = False,
    params: Params = None,
    json_out: Json = False,
) -> None:
    """Check definition files: YAML, schema, state model and functions. Lists every problem.

    With ``--db URL``: also every in-flight workflow stored there, against the current code.
    """
    if not files and db is None:
        print_error(err, "name definition files (or directories) to check, or --db URL.")
        raise typer.Exit(EXIT_USAGE)
    if db is not None:  # in-flight workflows of a store (see ruvon.cli.validate_db)

        async def check_store() -> int:
            from ruvon.cli import validate_db

            return await validate_db.validate_store(session_for(db, config_dir), json_out)

        code = exit_code(check_store)
        if not files or code != EXIT_OK:
            raise typer.Exit(code)

    async def work() -> int:
        from ruvon.cli.inputs import parse_params
        from ruvon.cli.validate import report_json, validate_files

        reports = validate_files(files or [], parameters=parse_params(params), strict=strict)
        if json_out:
            document = {
                "ok": all(r.ok for r in reports),
                "files": [report_json(r, with_graph=graph) for r in reports],
            }
            sys.stdout.write(json.dumps(document, indent=2) + "\n")
        else:
            _print_reports(reports, graph)
        return EXIT_FAILED if any(not r.ok for r in reports) else EXIT_OK

    finish(work)


def _print_reports(reports: list[Any], graph: bool) -> None:
    from ruvon.cli.graph import mermaid_flowchart

    for report in reports:
        if report.ok and report.loaded is not None:
            definition = report.loaded.definition
            steps = _count(len(definition.steps), "step")
            out.print(
                Text("ok  ", style="bold green")
                + Text(f"{report.path}  ({definition.workflow_type}, {steps})")
            )
            if graph:
                sys.stdout.write(mermaid_flowchart(definition))
                sys.stdout.flush()
        if report.ok and report.registered is not None:
            registry = f"registry, {_count(report.registered, 'workflow')}"
            out.print(Text("ok  ", style="bold green") + Text(f"{report.path}  ({registry})"))
        for warning in report.warnings:
            err.print(Text("warning: ", style="yellow") + Text(warning))
        for problem in report.problems:
            print_error(err, problem)
    invalid = sum(not report.ok for report in reports)
    if invalid:
        err.print(Text(f"{invalid} of {len(reports)} files invalid", style="red"))


def graph(
    workflow_type: Annotated[str, typer.Argument(help="The workflow_type to draw.")],
    params: Params = None,
    config_dir: ConfigDir = None,
) -> None:
    """Print the workflow's steps as a Mermaid flowchart (paste into any Mermaid viewer)."""

    async def work() -> int:
        from ruvon.builder import WorkflowBuilder
        from ruvon.cli.graph import mermaid_flowchart
        from ruvon.cli.inputs import parse_params

        builder = WorkflowBuilder(config_dir=config_dir, parameters=parse_params(params))
        sys.stdout.write(mermaid_flowchart(builder.get_definition(workflow_type).definition))
        return EXIT_OK

    finish(work)


def worker(
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            help="Module prefix whose functions and state models this worker may run (repeat "
            "it). Default: the modules named by the definitions in the config directory.",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Worker processes or threads [default: max(4, CPU count)]."),
    ] = None,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork, threads or solo.")] = "prefork",
    queue: Annotated[str | None, typer.Option(help="Queue to consume (default 'ruvon').")] = None,
    broker: Annotated[str | None, typer.Option(help="Broker URL (default local Redis).")] = None,
    backend: Annotated[str | None, typer.Option(help="Result backend URL.")] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    hostname: Annotated[str | None, typer.Option(help="Worker node name.")] = None,
    config_dir: ConfigDir = None,
) -> None:
    """Start a Celery worker that runs PARALLEL tasks of workflows (CeleryExecutor)."""
    prefixes = list(allow or [])
    if not prefixes and not os.environ.get("RUVON_CELERY_ALLOW"):
        found: list[str] = []

        async def work() -> int:
            found.extend(definition_modules(config_dir))
            return EXIT_OK

        from ruvon.cli.exits import exit_code

        code = exit_code(work)
        if code != EXIT_OK:
            raise typer.Exit(code)
        prefixes = found
        err.print(Text(f"worker allows the modules the definitions name: {', '.join(found)}"))
    from ruvon.implementations.execution import celery_worker

    argv = [arg for prefix in prefixes for arg in ("--allow", prefix)]
    workers = concurrency or default_concurrency()
    argv += ["--concurrency", str(workers), "--pool", pool, "--loglevel", loglevel]
    options = (
        ("--queue", queue),
        ("--broker", broker),
        ("--backend", backend),
        ("--hostname", hostname),
    )
    for flag, value in options:
        if value:
            argv += [flag, value]
    celery_worker.main(argv)


def default_concurrency() -> int:
    """The worker's default concurrency: the CPU count, but at least 4 (tasks often wait on I/O)."""
    return max(4, os.cpu_count() or 1)


def definition_modules(config_dir: Path | None) -> list[str]:
    """The modules of every function and state model named by the definitions in ``config_dir``.

    Raises:
        ConfigurationError: The directory holds no definitions (so nothing could be allowed).
        DefinitionError: A definition is invalid or names something that does not import.
    """
    from ruvon.builder import WorkflowBuilder
    from ruvon.errors import ConfigurationError

    builder = WorkflowBuilder(config_dir=config_dir)
    modules: set[str] = set()
    for workflow_type in builder.workflow_types:
        loaded = builder.get_definition(workflow_type)
        paths = [*loaded.functions, loaded.definition.initial_state_model]
        modules.update(path.rpartition(".")[0] for path in paths if "." in path)
    if not modules:
        raise ConfigurationError(
            f"ruvon worker: no --allow given and {builder.config_dir.resolve()} holds no workflow "
            f"definitions to take the allowed modules from. Run it beside your config/ directory, "
            f"pass --config-dir, or name the packages with --allow PKG."
        )
    return sorted(modules)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
