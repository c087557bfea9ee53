"""YAML config files with line numbers: load, apply `--set` overrides, validate with pydantic.

Shared by every gristmill package, so that any mistake in any YAML file surfaces the same way:
a `ConfigError` naming the file, the line and the key, before any work starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A problem with a pipeline file; `errors` holds one line per problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


class Located:
    """A loaded YAML document plus the line of every key path in it."""

    def __init__(self, path: str, data: Any, lines: dict[tuple, int]):
        self.path, self.data, self.lines = path, data, lines

    def line(self, keys: tuple) -> int:
        """The line of the deepest key path that exists, walking up from `keys`."""
        keys = tuple(keys)
        while keys and keys not in self.lines:
            keys = keys[:-1]
        return self.lines.get(keys, 1)

    def error(self, keys: tuple, message: str) -> str:
        where = ".".join(str(k) for k in keys) or "(top level)"
        return f"{self.path}:{self.line(keys)}: {where}: {message}"


def _walk(node: yaml.Node, keys: tuple, lines: dict[tuple, int]) -> None:
    lines.setdefault(keys, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = keys + (key_node.value,)
            lines[child] = key_node.start_mark.line + 1
            _walk(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, keys + (i,), lines)


def load_yaml(path: str | os.PathLike) -> Located:
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError([f"{path}:{line}: invalid YAML: {getattr(err, 'problem', err)}"]) from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines)
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: expected a mapping of keys at the top level"])
    return Located(path, data, lines)


def apply_overrides(doc: Located, overrides: list[str]) -> None:
    """Apply `key.path=value` settings; step names with dots are matched whole (`steps.1.filter.length.min_words=5`)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError([f"--set {item!r}: expected key=value"])
        parts, node, keys = key.split("."), doc.data, []
        while parts:
            if isinstance(node, list):
                if not parts[0].isdigit() or int(parts[0]) >= len(node):
                    raise ConfigError([f"--set {item!r}: {'.'.join(map(str, keys))} has no item {parts[0]}"])
                head = int(parts.pop(0))
            else:
                # the longest dotted prefix that is a key of this mapping, else the next part
                head = next((".".join(parts[:n]) for n in range(len(parts), 0, -1)
                             if ".".join(parts[:n]) in node), parts[0])
                del parts[: head.count(".") + 1]
            keys.append(head)
            if not parts:
                node[head] = yaml.safe_load(raw)
            else:
                if isinstance(node, dict) and head not in node:
                    node[head] = {}
                node = node[head]
                if node is None:
                    raise ConfigError([f"--set {item!r}: {'.'.join(map(str, keys))} is empty"])


class Strict(BaseModel):
    """Base for config models: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def validate(doc: Located, model: type[M]) -> M:
    """`doc` as a `model`, every validation error located in the file."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as err:
        raise ConfigError([doc.error(tuple(e["loc"]), e["msg"]) for e in err.errors()]) from None


def load(path: str | os.PathLike, model: type[M], overrides: list[str] = ()) -> M:
    doc = load_yaml(path)
    apply_overrides(doc, list(overrides))
    return validate(doc, model)
