"""Laws of the pure merge functions, as hypothesis properties, plus the tutorial's examples."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ruvon.errors import MergeConflict
from ruvon.merge import MergeConflictBehavior, MergeStrategy, apply_update, merge_task_results

keys = st.sampled_from(["a", "b", "c", "d"])
scalars = st.one_of(st.integers(-3, 3), st.booleans(), st.none(), st.text(max_size=2))
nested = st.recursive(scalars, lambda inner: st.dictionaries(keys, inner, max_size=3), max_leaves=6)
flat_results = st.lists(
    st.tuples(st.text(min_size=1, max_size=3), st.dictionaries(keys, scalars, max_size=4)),
    max_size=5,
)
nested_results = st.lists(
    st.tuples(st.text(min_size=1, max_size=3), st.dictionaries(keys, nested, max_size=4)),
    max_size=5,
)
strategies = st.sampled_from(list(MergeStrategy))


@given(nested_results, strategies)
def test_prefer_old_equals_prefer_new_on_reversed_input(
    results: list[tuple[str, dict[str, Any]]], strategy: MergeStrategy
) -> None:
    old = merge_task_results(results, strategy, MergeConflictBehavior.PREFER_OLD)
    new = merge_task_results(list(reversed(results)), strategy, MergeConflictBehavior.PREFER_NEW)
    assert old == new


@given(flat_results, st.sampled_from(list(MergeConflictBehavior)))
def test_deep_equals_shallow_on_flat_dicts(
    results: list[tuple[str, dict[str, Any]]], conflict: MergeConflictBehavior
) -> None:
    def run(strategy: MergeStrategy) -> Any:
        try:
            return merge_task_results(results, strategy, conflict)
        except MergeConflict as exc:
            return ("conflict", exc.key, exc.first_task, exc.second_task)

    assert run(MergeStrategy.DEEP) == run(MergeStrategy.SHALLOW)


@given(flat_results)
def test_raise_error_raises_exactly_on_differing_shared_keys(
    results: list[tuple[str, dict[str, Any]]],
) -> None:
    seen: dict[str, Any] = {}
    differing = False
    for _, result in results:
        for key, value in result.items():
            if key in seen and seen[key] != value:
                differing = True
            seen.setdefault(key, value)
    if differing:
        with pytest.raises(MergeConflict):
            merge_task_results(results, MergeStrategy.SHALLOW, MergeConflictBehavior.RAISE_ERROR)
    else:
        merged = merge_task_results(
            results, MergeStrategy.SHALLOW, MergeConflictBehavior.RAISE_ERROR
        )
        assert merged == seen


@given(nested_results, strategies, st.sampled_from(list(MergeConflictBehavior)))
def test_merge_never_mutates_its_input(
    results: list[tuple[str, dict[str, Any]]],
    strategy: MergeStrategy,
    conflict: MergeConflictBehavior,
) -> None:
    import copy

    before = copy.deepcopy(results)
    try:
        merge_task_results(results, strategy, conflict)
    except MergeConflict:
        pass
    assert results == before


@given(st.dictionaries(keys, nested, max_size=4), st.dictionaries(keys, nested, max_size=4))
def test_apply_update_keeps_every_update_key(state: dict[str, Any], update: dict[str, Any]) -> None:
    shallow = apply_update(state, update, MergeStrategy.SHALLOW)
    assert shallow == {**state, **update}
    deep = apply_update(state, update, MergeStrategy.DEEP)
    assert set(deep) == set(state) | set(update)


def test_tutorial_shallow_and_deep_examples() -> None:
    results = [
        ("task1", {"inventory_valid": True, "details": {"sku": "A"}}),
        ("task2", {"payment_valid": True, "details": {"amount": 100}}),
    ]
    assert merge_task_results(results, MergeStrategy.SHALLOW) == {
        "inventory_valid": True,
        "payment_valid": True,
        "details": {"amount": 100},
    }
    assert merge_task_results(results, MergeStrategy.DEEP) == {
        "inventory_valid": True,
        "payment_valid": True,
        "details": {"sku": "A", "amount": 100},
    }


def test_conflict_names_nested_key_and_both_tasks() -> None:
    results = [("left", {"d": {"x": 1}}), ("right", {"d": {"x": 2}})]
    with pytest.raises(MergeConflict) as info:
        merge_task_results(results, MergeStrategy.DEEP, MergeConflictBehavior.RAISE_ERROR)
    assert (info.value.key, info.value.first_task, info.value.second_task) == (
        "d.x",
        "left",
        "right",
    )
    assert "'left'" in str(info.value) and "'right'" in str(info.value)
