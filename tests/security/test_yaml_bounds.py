"""YAML definition files: alias bombs, recursion, duplicate keys, encoding and size (issue 9)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from security_kit import ALIAS_BOMB, CPU_BOUND, MEMORY_BOUND, definition, measure

from ruvon.builder import WorkflowBuilder
from ruvon.cli.validate import validate_file
from ruvon.errors import DefinitionError
from ruvon.yaml_loader import MAX_BYTES
from ruvon.yaml_source import line_of, read_yaml


def _write(tmp_path: Path, data: bytes | str, name: str = "probe.yaml") -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def test_an_alias_bomb_is_refused_quickly_naming_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, ALIAS_BOMB)
    assert len(ALIAS_BOMB) < 600
    measured = measure(lambda: validate_file(path))
    assert measured.error is None
    (problem,) = measured.result.problems
    assert str(path) in problem and "alias" in problem
    assert measured.cpu_seconds < CPU_BOUND and measured.peak_bytes < MEMORY_BOUND


def test_a_recursive_alias_is_one_short_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "a: &a [*a]\n")
    with pytest.raises(DefinitionError) as caught:
        read_yaml(path)
    message = str(caught.value)
    assert f"{path}, line 1" in message and "recursive" in message
    assert len(message.splitlines()) == 1 and len(message) < 400


def test_an_alias_to_a_finished_anchor_still_works(tmp_path: Path) -> None:
    path = _write(tmp_path, "base: &b {k: 1}\nuse:\n  <<: *b\n  k: 2\nagain: *b\n")
    assert read_yaml(path) == {"base": {"k": 1}, "use": {"k": 2}, "again": {"k": 1}}


def test_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "workflow_type: A\nsteps: []\nworkflow_type: B\n")
    with pytest.raises(DefinitionError) as caught:
        read_yaml(path)
    message = str(caught.value)
    assert f"{path}, line 3" in message and "'workflow_type' appears twice" in message
    assert "first on line 1" in message


def test_a_non_utf8_file_is_named_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, b'workflow_type: "A"\ndescription: "caf\xe9"\n')
    with pytest.raises(DefinitionError, match=r"line 2: the file is not UTF-8 text \(byte 0xe9"):
        read_yaml(path)
    assert line_of(path, ["description"]) is None  # no traceback from the line finder either


def test_a_bad_file_in_config_does_not_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    _write(config, definition("state.amount > 1"), "good.yaml")
    bad = _write(config, b"workflow_type: \xff\xfe\n", "bad.yaml")
    with caplog.at_level(logging.WARNING, logger="ruvon.builder"):
        builder = WorkflowBuilder(config_dir=config)
    assert str(bad) in caplog.text
    assert builder.get_definition("Probe").definition.workflow_type == "Probe"
    with pytest.raises(DefinitionError) as caught:
        builder.get_definition("Missing")
    assert str(bad) in str(caught.value) and "not UTF-8" in str(caught.value)


def test_an_oversized_file_is_refused_unread(tmp_path: Path) -> None:
    path = _write(tmp_path, "# padding\n" * (MAX_BYTES // 10 + 1))
    with pytest.raises(DefinitionError, match="definition files may be at most"):
        read_yaml(path)


def test_deep_nesting_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = _write(tmp_path, "a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    measured = measure(lambda: read_yaml(path))
    assert isinstance(measured.error, DefinitionError), measured.error
    assert str(path) in str(measured.error) and measured.cpu_seconds < CPU_BOUND
