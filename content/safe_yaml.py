"""Safe YAML reading that remembers where every key sits in the file.

Only plain data is accepted: PyYAML's safe loader, no anchors or aliases (so no
"billion laughs"), a cap on nodes and nesting, and duplicate keys reported
instead of silently overwritten.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from content.limits import MAX_YAML_DEPTH, MAX_YAML_NODES
from content.problems import Problem


class _Refused(yaml.MarkedYAMLError):
    """A document uses something we do not accept."""


class _StrictLoader(yaml.SafeLoader):
    """The safe loader, refusing anchors, aliases, huge documents and deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        """Compose one node after checking it is plain, bounded data."""
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(
                problem="anchors and aliases (& and *) are not allowed",
                problem_mark=event.start_mark,
            )
        self._nodes += 1
        if self._nodes > MAX_YAML_NODES:
            raise _Refused(
                problem=f"more than {MAX_YAML_NODES:,} values", problem_mark=event.start_mark
            )
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise _Refused(
                problem=f"nested more than {MAX_YAML_DEPTH} levels deep",
                problem_mark=event.start_mark,
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


@dataclass(frozen=True, slots=True)
class YamlDoc:
    """A parsed YAML document with the position of each of its keys in the file."""

    value: Any
    node: Node
    path: str
    offset: int  # file lines before the document's first line

    def line(self, *loc: str | int) -> int:
        """The file line of the key at `loc`, or of the nearest enclosing value that exists."""
        node, line = self.node, self.node.start_mark.line
        for part in loc:
            if isinstance(node, MappingNode):
                pairs = [(k, v) for k, v in node.value if _key(k) == str(part)]
                if not pairs:
                    break
                key, node = pairs[-1]
                line = key.start_mark.line
            elif isinstance(node, SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    break
                node = node.value[part]
                line = node.start_mark.line
            else:
                break
        return self.offset + line + 1

    def sub(self, *loc: str | int) -> YamlDoc:
        """The document rooted at the value found at `loc` (which must exist)."""
        node, value = self.node, self.value
        for part in loc:
            if isinstance(node, MappingNode):
                node = next(v for k, v in reversed(node.value) if _key(k) == str(part))
            else:
                node = node.value[int(part)]
            value = value[part]
        return YamlDoc(value=value, node=node, path=self.path, offset=self.offset)


def _key(node: Node) -> str | None:
    """The text of a scalar mapping key, or None for a complex key."""
    return node.value if isinstance(node, ScalarNode) else None


def _walk(node: Node) -> Iterator[Node]:
    """Every node below and including `node` (depth is already capped)."""
    yield node
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield from _walk(key)
            yield from _walk(value)
    elif isinstance(node, SequenceNode):
        for child in node.value:
            yield from _walk(child)


def _key_problems(doc: YamlDoc) -> list[Problem]:
    """A problem for every key that is not text or repeats within one mapping."""
    problems = []
    for node in _walk(doc.node):
        if not isinstance(node, MappingNode):
            continue
        seen: set[str] = set()
        for key, _ in node.value:
            name, line = _key(key), doc.offset + key.start_mark.line + 1
            if name is None or key.tag != "tag:yaml.org,2002:str":
                shown = f"'{name}'" if name is not None else "a list or mapping"
                problems.append(Problem(doc.path, line, f"key {shown} must be text"))
            elif name in seen:
                problems.append(Problem(doc.path, line, f"duplicate key '{name}'"))
            seen.add(name or "")
    return problems


def _not_text(value: str) -> str | None:
    """The first character of a YAML string no message may hold: a control character other
    than a line break or tab (written as an escape such as "\\0"), or half a surrogate pair."""
    return next(
        (c for c in value if c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cs")), None
    )


def _character_problems(doc: YamlDoc) -> list[Problem]:
    """A problem for every key or value holding a character no message may hold."""
    problems = []
    for node in _walk(doc.node):
        bad = _not_text(node.value) if isinstance(node, ScalarNode) else None
        if bad is not None:
            line = doc.offset + node.start_mark.line + 1
            surrogate = unicodedata.category(bad) == "Cs"
            kind = "half a surrogate pair" if surrogate else "a control character"
            message = f"the text holds U+{ord(bad):04X} ({kind}); remove it"
            problems.append(Problem(doc.path, line, message))
    return problems


def _error_line(error: yaml.YAMLError, text: str, offset: int) -> int:
    """The file line a PyYAML error points at."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is not None:
        return offset + mark.line + 1
    position = getattr(error, "position", None)
    if isinstance(position, int):
        return offset + text.count("\n", 0, position) + 1
    return offset + 1


def _error_text(error: yaml.YAMLError) -> str:
    """A short description of a PyYAML error."""
    if isinstance(error, yaml.MarkedYAMLError) and error.problem:
        return f"{error.context}, {error.problem}" if error.context else error.problem
    return str(error).splitlines()[0]


def parse_yaml(text: str, *, path: str, offset: int) -> tuple[YamlDoc | None, list[Problem]]:
    """Parse one YAML document; an empty document gives (None, [])."""
    try:
        loader = _StrictLoader(text)
    except yaml.YAMLError as error:  # the reader checks for unprintable characters up front
        line = _error_line(error, text, offset)
        return None, [Problem(path, line, f"invalid YAML: {_error_text(error)}")]
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        value = loader.construct_document(node)
    except yaml.YAMLError as error:
        line = _error_line(error, text, offset)
        return None, [Problem(path, line, f"invalid YAML: {_error_text(error)}")]
    except (ValueError, OverflowError) as error:  # e.g. a timestamp like 2026-13-45
        return None, [Problem(path, offset + 1, f"invalid YAML: {error}")]
    finally:
        loader.dispose()
    doc = YamlDoc(value=value, node=node, path=path, offset=offset)
    return doc, _key_problems(doc) + _character_problems(doc)
