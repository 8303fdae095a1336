"""The step-type registry: every type has one model and one runner, and validation comes from it."""

from __future__ import annotations

import pytest

from ruvon.definition import parse_definition
from ruvon.errors import DefinitionError
from ruvon.step_models import STEP_MODELS, StepType
from ruvon.steps.dispatch import KINDS


def test_every_step_type_has_one_model_and_one_runner() -> None:
    assert set(STEP_MODELS) == set(StepType) == set(KINDS)
    for kind, record in KINDS.items():
        assert record.model is STEP_MODELS[kind] and record.type is kind


def test_loop_body_types_come_from_the_models() -> None:
    raw = {
        "workflow_type": "L",
        "initial_state_model": "core_kit.State",
        "steps": [
            {
                "name": "Loop",
                "type": "LOOP",
                "iterate_over": "items",
                "loop_body": [{"name": "Wait", "type": "HUMAN_IN_LOOP"}],
            }
        ],
    }
    with pytest.raises(DefinitionError) as refused:
        parse_definition(raw, source="loop.yaml")
    message = str(refused.value)
    allowed = [kind for kind, model in STEP_MODELS.items() if model.loop_body_ok]
    assert "body step 'Wait' is HUMAN_IN_LOOP" in message
    assert f"may hold {', '.join(allowed)} steps" in message
