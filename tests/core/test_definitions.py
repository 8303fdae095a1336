"""Bad input gets a clear error naming the file, line, step or key, and how to fix it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.errors import DefinitionError, FunctionLoadError, StateValidationError, WorkflowNotFound

GOOD = """\
workflow_type: "Good"
initial_state_model: "core_kit.State"
steps:
  - name: "One"
    function: "core_kit.increment"
"""


async def test_unknown_workflow_type_lists_known_ones_and_files(
    write_config: Callable[..., Path],
) -> None:
    config = write_config(**{"good.yaml": GOOD, "other.yml": GOOD.replace('"Good"', '"Other"')})
    builder = WorkflowBuilder(config_dir=config)
    with pytest.raises(WorkflowNotFound) as info:
        await builder.create_workflow("Missing")
    message = str(info.value)
    assert "'Missing'" in message and "'Good'" in message and "'Other'" in message
    assert str(config / "good.yaml") in message


async def test_missing_config_dir_says_how_to_point_at_one(tmp_path: Path) -> None:
    builder = WorkflowBuilder(config_dir=tmp_path / "nowhere")
    with pytest.raises(WorkflowNotFound, match=r"does not exist.*RUVON_CONFIG_DIR"):
        await builder.create_workflow("Good")


async def test_config_dir_from_environment(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUVON_CONFIG_DIR", str(write_config(**{"g.yaml": GOOD})))
    workflow = await WorkflowBuilder().create_workflow("Good")
    assert workflow.workflow_type == "Good"


def test_two_files_with_one_workflow_type_name_both(write_config: Callable[..., Path]) -> None:
    config = write_config(**{"a.yaml": GOOD, "b.yaml": GOOD})
    with pytest.raises(DefinitionError) as info:
        WorkflowBuilder(config_dir=config)
    assert "a.yaml" in str(info.value) and "b.yaml" in str(info.value)


async def test_yaml_syntax_error_gives_file_and_line(write_config: Callable[..., Path]) -> None:
    config = write_config(**{"broken.yaml": GOOD + "  - name: [unclosed\n"})
    with pytest.raises(DefinitionError) as info:
        await WorkflowBuilder(config_dir=config).create_workflow("Good")
    assert "broken.yaml, line 7" in str(info.value)
    assert "flow sequence that starts on line 6" in str(info.value)


async def test_unknown_step_type_lists_valid_ones(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    builder = builder_for(
        GOOD.replace(
            '    function: "core_kit.increment"', '    type: "TELEPORT"\n    function: "x.y"'
        )
    )
    with pytest.raises(DefinitionError) as info:
        await builder.create_workflow("Good")
    message = str(info.value)
    assert "line 5" in message and "'TELEPORT'" in message
    assert "STANDARD" in message and "PARALLEL" in message


async def test_step_types_accept_any_case(builder_for: Callable[[str], WorkflowBuilder]) -> None:
    builder = builder_for(GOOD + '    type: "standard"\n')
    workflow = await builder.create_workflow("Good")
    await workflow.next_step()
    assert workflow.state.n == 1


async def test_unimportable_function_names_step_path_and_import_error(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    builder = builder_for(GOOD.replace("core_kit.increment", "no_such_pkg.steps.go"))
    with pytest.raises(FunctionLoadError) as info:
        await builder.create_workflow("Good")
    message = str(info.value)
    assert "step 'One'" in message and "no_such_pkg.steps.go" in message
    assert "No module named 'no_such_pkg'" in message


async def test_missing_attribute_is_named(builder_for: Callable[[str], WorkflowBuilder]) -> None:
    builder = builder_for(GOOD.replace("core_kit.increment", "core_kit.nope"))
    with pytest.raises(FunctionLoadError, match="has no attribute 'nope'"):
        await builder.create_workflow("Good")


async def test_function_without_state_and_context_is_refused_at_load(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    builder = builder_for(GOOD.replace("core_kit.increment", "core_kit.no_params"))
    with pytest.raises(FunctionLoadError) as info:
        builder.get_definition("Good")
    assert "f(state, context)" in str(info.value) and "step 'One'" in str(info.value)


async def test_duplicate_step_names(builder_for: Callable[[str], WorkflowBuilder]) -> None:
    builder = builder_for(GOOD + '  - name: "One"\n    function: "core_kit.increment"\n')
    with pytest.raises(DefinitionError, match="step name 'One' is used twice"):
        builder.get_definition("Good")


async def test_parallel_step_without_tasks(builder_for: Callable[[str], WorkflowBuilder]) -> None:
    builder = builder_for(GOOD + '  - name: "Fan"\n    type: "PARALLEL"\n')
    with pytest.raises(DefinitionError) as info:
        builder.get_definition("Good")
    assert "line 6" in str(info.value) and "PARALLEL step 'Fan' has no tasks" in str(info.value)


async def test_every_problem_is_reported_at_once(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    text = GOOD + (
        '  - name: "Fan"\n    type: "PARALLEL"\n    automate_nxt: true\n'
        '    merge_strategy: "SIDEWAYS"\n    tasks:\n      - name: "t"\n'
    )
    with pytest.raises(DefinitionError) as info:
        builder_for(text).get_definition("Good")
    message = str(info.value)
    assert "3 problems" in message
    assert "unknown key 'automate_nxt'" in message and "Valid keys:" in message
    assert "merge_strategy" in message and "SIDEWAYS" in message
    assert "missing the required key 'function_path'" in message


async def test_invalid_route_target(builder_for: Callable[[str], WorkflowBuilder]) -> None:
    text = GOOD + '    routes:\n      - condition: "state.n > 1"\n        target: "Nowhere"\n'
    with pytest.raises(DefinitionError, match="unknown step 'Nowhere'"):
        builder_for(text).get_definition("Good")


async def test_bad_initial_data_names_the_field(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    with pytest.raises(StateValidationError, match="'n': Input should be a valid integer"):
        await builder_for(GOOD).create_workflow("Good", initial_data={"n": "many"})


async def test_state_model_that_is_not_a_model(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    builder = builder_for(GOOD.replace("core_kit.State", "core_kit.increment"))
    with pytest.raises(DefinitionError, match="not a pydantic BaseModel"):
        builder.get_definition("Good")


def test_registry_yaml_and_dict(write_config: Callable[..., Path]) -> None:
    text = GOOD.replace('initial_state_model: "core_kit.State"\n', "")
    registry = (
        "workflows:\n  - type: Good\n    config_file: good.yaml\n"
        "    initial_state_model: core_kit.State\n"
    )
    config = write_config(**{"good.yaml": text, "workflow_registry.yaml": registry})
    assert WorkflowBuilder(config_dir=config).get_definition("Good").state_model.__name__ == "State"
    by_dict = WorkflowBuilder(
        {"Good": {"config_file": "good.yaml", "initial_state_model_path": "core_kit.State"}},
        config_dir=config,
    )
    assert by_dict.get_definition("Good").definition.workflow_type == "Good"
    by_path = WorkflowBuilder(config / "workflow_registry.yaml")
    assert list(by_path.workflow_types) == ["Good"]


async def test_schema_and_semantic_problems_are_reported_together(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    text = GOOD + (
        "    retry: {max_attempts: 2, backof: 1}\n"
        '  - name: "Two"\n'
        '    routes:\n      - condition: "state.n >"\n        target: "Nowhere"\n'
    )
    with pytest.raises(DefinitionError) as info:
        builder_for(text).get_definition("Good")
    message = str(info.value)
    assert "unknown key 'backof'. Valid keys: backoff_multiplier, backoff_seconds" in message
    assert "STANDARD step 'Two' has no 'function'" in message
    assert "unknown step 'Nowhere'" in message and "does not parse" in message
