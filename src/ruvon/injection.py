"""``dynamic_injection``: steps a rule inserts after the current one when a state value fits.

The inserted steps are part of the loaded definition (validated and imported with it), placed right
after the step that owns the rules, one block per rule. A run that does not select a block skips
it: after the owner, the workflow goes to the first block whose rule matches the state, else past
all of them; after the last step of a block, to the owner's next matching block, else on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ruvon.step_models import InjectionRule, StepBase


@dataclass(frozen=True, slots=True)
class Block:
    """The steps one rule inserts: indexes ``first`` to ``end - 1`` of the expanded step list."""

    owner: str
    rule: InjectionRule
    first: int
    end: int


@dataclass(frozen=True, slots=True)
class Expansion:
    """Top-level steps with the injectable steps placed after their owners."""

    steps: list[StepBase]
    #: Owner step name -> its blocks, in rule order.
    blocks: dict[str, list[Block]]
    #: Index of the last step of a block -> that block.
    block_ends: dict[int, Block]


def expand(steps: Sequence[StepBase]) -> Expansion:
    """Place every owner's injectable steps right after it, one block per rule."""
    expanded: list[StepBase] = []
    blocks: dict[str, list[Block]] = {}
    for step in steps:
        expanded.append(step)
        for rule in step.dynamic_injection.rules if step.dynamic_injection else []:
            first = len(expanded)
            expanded.extend(rule.steps_to_insert)
            blocks.setdefault(step.name, []).append(Block(step.name, rule, first, len(expanded)))
    ends = {block.end - 1: block for owned in blocks.values() for block in owned}
    return Expansion(expanded, blocks, ends)


def next_index(expansion: Expansion, step: StepBase, current: int, state: BaseModel) -> int | None:
    """Where a step that just finished (and chose no route) goes, if injection decides it."""
    owned = expansion.blocks.get(step.name)
    if owned:
        return _first_match(owned, state, default=owned[-1].end)
    ended = expansion.block_ends.get(current)
    if ended is None:
        return None
    siblings = expansion.blocks[ended.owner]
    later = siblings[siblings.index(ended) + 1 :]
    return _first_match(later, state, default=siblings[-1].end)


def _first_match(blocks: Sequence[Block], state: BaseModel, default: int) -> int:
    data = state.model_dump(mode="json")
    for block in blocks:
        if block.rule.matches(value_at(data, block.rule.condition_key)):
            return block.first
    return default


def value_at(data: Mapping[str, Any], dotted: str) -> Any:
    """The value at ``a.b.c`` (a leading ``state.`` is allowed); ``None`` when a part is missing."""
    node: Any = data
    for part in dotted.removeprefix("state.").split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node
