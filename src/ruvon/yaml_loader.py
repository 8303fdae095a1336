"""A PyYAML SafeLoader with bounds: no alias bombs, no recursive structures, no duplicate keys.

A definition file is trusted, but a copied or generated one can be wrong in ways that should fail
with a line number, not a traceback or minutes of work. Aliases share one node, so a few hundred
bytes can stand for billions of values once anything walks them; the loader counts the expanded size
of the document and refuses it past :data:`MAX_NODES`.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

#: The largest definition file read, in bytes.
MAX_BYTES = 1_048_576
#: The most alias uses (``*name``) in one document.
MAX_ALIASES = 1_000
#: The deepest nesting of collections in one document.
MAX_DEPTH = 100
#: The most nodes in one document once every alias is expanded.
MAX_NODES = 500_000

_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlBoundError(ComposerError):
    """A document breaks a bound of :class:`BoundedSafeLoader` (its message says how to fix it)."""


class DuplicateKeyError(ConstructorError):
    """A mapping repeats a key (the message names both lines)."""


class BoundedSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses alias bombs, recursive aliases and duplicate mapping keys."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._open_anchors: list[str] = []
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, refusing an alias to an anchor still being composed."""
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        mark: Any = getattr(event, "start_mark", None)
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if event.anchor in self._open_anchors:
                raise YamlBoundError(
                    None,
                    None,
                    f"the alias *{event.anchor} is inside its own anchor &{event.anchor}, which "
                    f"makes a recursive structure; definitions must be trees",
                    mark,
                )
            if self._aliases > MAX_ALIASES:
                raise YamlBoundError(
                    None, None, f"more than {MAX_ALIASES} aliases in one document", mark
                )
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlBoundError(None, None, f"it nests deeper than {MAX_DEPTH} levels", mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open_anchors.append(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open_anchors.pop()

    def get_single_node(self) -> Any:
        """The document's root node, refused if it expands to more than MAX_NODES nodes."""
        node = super().get_single_node()
        if node is not None and _expanded_size(node) > MAX_NODES:
            raise YamlBoundError(
                None,
                None,
                f"the document expands to more than {MAX_NODES:,} values once its aliases are "
                f"followed (an alias bomb?); use fewer or smaller aliases",
                node.start_mark,
            )
        return node

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        """A mapping, refused if a key appears twice (YAML would keep only the last)."""
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], Any] = {}
            first: Any
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                    continue
                first = seen.setdefault((key_node.tag, key_node.value), key_node.start_mark)
                if first is not key_node.start_mark:
                    raise DuplicateKeyError(
                        None,
                        None,
                        f"the key '{key_node.value}' appears twice in one mapping (first on line "
                        f"{first.line + 1}, again on line {key_node.start_mark.line + 1}); keep one",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


def check_flow_depth(text: str) -> int | None:
    """The 1-based line where ``[``/``{`` nesting first passes MAX_DEPTH, or None.

    PyYAML's scanner looks ahead through a whole flow collection, which takes time quadratic in its
    depth, so deep flow nesting is refused before parsing. Brackets inside strings are counted too;
    a real definition never comes near the bound.
    """
    depth = 0
    line = 1
    for char in text:
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif char in "]}":
            depth = max(depth - 1, 0)
        elif char == "\n":
            line += 1
    return None


def _expanded_size(root: Any) -> int:
    """Nodes in the tree under ``root`` with every shared (aliased) node counted at each use."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done:
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_NODES + 1)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: Any) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
