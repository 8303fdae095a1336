"""``ruvon validate``: ok lines, every problem of every file at once, with lines."""

from __future__ import annotations

import textwrap
from pathlib import Path

MANY_PROBLEMS = """\
workflow_type: Broken
initial_state_model: quick.models.QuickState
steps:
  - function: quick.steps.greet
    timeout_seconds: -1
  - name: Second
    type: TELEPORT
    function: quick.steps.greet
  - name: Third
    function: quick.steps.greet
    colour: blue
    routes:
      - {condition: "state.total > 1", target: Nowhere}
"""

BAD_SYNTAX = """\
workflow_type: Bad
initial_state_model: quick.models.QuickState
steps:
  - name: [unclosed
    function: quick.steps.greet
"""

MISSING_FUNCTION = """\
workflow_type: Missing
initial_state_model: quick.models.QuickState
steps:
  - name: Only
    function: quick.steps.no_such_function
"""


def write(project: Path, name: str, text: str) -> str:
    (project / name).write_text(textwrap.dedent(text))
    return name


def test_valid_files_print_ok_and_exit_0(ruvon):
    done = ruvon("validate", "config/workflow.yaml", "quick_config/quick.yaml")
    assert done.returncode == 0, done.stderr
    assert "ok  config/workflow.yaml  (OrderProcessing, 4 steps)" in done.stdout
    assert "ok  quick_config/quick.yaml  (Quick, 3 steps)" in done.stdout
    assert done.stderr == ""


def test_a_directory_means_its_yaml_files(ruvon):
    done = ruvon("validate", "quick_config")
    assert done.returncode == 0, done.stderr
    for name in ("approval", "flaky", "quick", "routed"):
        assert f"ok  quick_config/{name}.yaml" in done.stdout


def test_every_problem_of_every_file_at_once_with_lines(ruvon):
    broken = write(ruvon.project, "broken.yaml", MANY_PROBLEMS)
    missing = write(ruvon.project, "missing.yaml", MISSING_FUNCTION)
    done = ruvon("validate", "config/workflow.yaml", broken, missing)
    assert done.returncode == 1
    assert "ok  config/workflow.yaml" in done.stdout
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    expected = [
        ("broken.yaml, line 4", "missing the required key 'name'"),
        ("broken.yaml, line 5", "timeout_seconds"),
        ("broken.yaml, line 7", "unknown type 'TELEPORT'"),
        ("broken.yaml, line 11", "unknown key 'colour'"),
    ]
    for where, what in expected:
        assert any(where in line and what in line for line in errors), (where, done.stderr)
    assert any("missing.yaml" in line and "no_such_function" in line for line in errors)
    assert "2 of 3 files invalid" in done.stderr
    assert "Traceback" not in done.stderr


def test_semantic_problems_are_reported_together_with_lines(ruvon):
    text = MANY_PROBLEMS.replace("    type: TELEPORT\n", "").replace("    colour: blue\n", "")
    text = text.replace(
        "  - function: quick.steps.greet\n    timeout_seconds: -1\n", "  - name: First\n"
    )
    name = write(ruvon.project, "routes.yaml", text)
    done = ruvon("validate", name)
    assert done.returncode == 1
    assert "error: routes.yaml, line 4: STANDARD step 'First' has no 'function'" in done.stderr
    assert "error: routes.yaml, line 10: a route of step 'Third'" in done.stderr
    assert "unknown step 'Nowhere'" in done.stderr


def test_yaml_syntax_error_names_the_line(ruvon):
    name = write(ruvon.project, "syntax.yaml", BAD_SYNTAX)
    done = ruvon("validate", name, "missing-file.yaml")
    assert done.returncode == 1
    assert "error: syntax.yaml, line 5" in done.stderr
    assert "invalid YAML" in done.stderr
    assert "error: missing-file.yaml: cannot be read" in done.stderr
    assert "Traceback" not in done.stderr


def test_two_files_with_one_workflow_type(ruvon):
    copy = write(
        ruvon.project, "copy.yaml", (ruvon.project / "quick_config/quick.yaml").read_text()
    )
    done = ruvon("validate", "quick_config/quick.yaml", copy)
    assert done.returncode == 1
    assert "workflow_type 'Quick' is already defined in quick_config/quick.yaml" in done.stderr


def test_schema_and_import_problems_in_one_run_and_import_errors_name_their_line(ruvon):
    text = MANY_PROBLEMS.replace(
        "  - name: Third\n    function: quick.steps.greet\n",
        "  - name: Third\n    function: quick.steps.no_such_function\n",
    )
    broken = write(ruvon.project, "both.yaml", text)
    missing = write(ruvon.project, "missing.yaml", MISSING_FUNCTION)
    done = ruvon("validate", broken, missing)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert any("both.yaml, line 7" in line and "TELEPORT" in line for line in errors)
    assert any(
        line.startswith("error: both.yaml, line 10: function 'quick.steps.no_such_function'")
        for line in errors
    ), done.stderr
    assert any(
        line.startswith("error: missing.yaml, line 5, step 'Only'") and "no_such_function" in line
        for line in errors
    ), done.stderr
