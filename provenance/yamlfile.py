"""YAML config files with line numbers: load, apply `--set` overrides, validate with pydantic.

Shared by every gristmill package, so that any mistake in any YAML file surfaces the same way:
a `ConfigError` naming the file, the line and the key, before any work starts. Besides YAML syntax,
loading refuses a key given twice in one mapping, nesting deeper than `MAX_DEPTH`, and aliases that
stand for more than `ALIAS_BUDGET` nodes in all (a "billion laughs" file of a few lines would
otherwise expand to gigabytes); each alias becomes its own copy, so that `--set` changes one place.
Config models (`Strict`) refuse unknown keys and true/false where a number is expected.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic_core import PydanticCustomError

M = TypeVar("M", bound=BaseModel)

ALIAS_BUDGET = 100_000  # nodes that aliases may stand for, counted as if expanded; a config needs dozens
MERGE = "tag:yaml.org,2002:merge"  # the tag of `<<`, which may be given more than once
MAX_DEPTH = 100  # levels of nesting; deeper would exhaust Python's stack before any error is reported


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


class _Loader(yaml.SafeLoader):
    """Composes each node once (an alias is the node it names, not a copy), keeping the size each node
    would have with its aliases expanded, so that aliases standing for too much are refused before
    anything expands them: the walk below, `_unshared`, pydantic."""

    def __init__(self, text: str, path: str):
        super().__init__(text)
        self.path, self.sizes, self.aliased, self.depth = path, {}, 0, 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        where = f"{self.path}:{event.start_mark.line + 1}"
        if self.depth == MAX_DEPTH:
            raise ConfigError([f"{where}: nested more than {MAX_DEPTH} levels deep"])
        self.depth += 1
        node = super().compose_node(parent, index)
        self.depth -= 1
        if isinstance(event, yaml.AliasEvent):
            if id(node) not in self.sizes:
                raise ConfigError([f"{where}: alias *{event.anchor} is inside its own anchor"])
            self.aliased += self.sizes[id(node)]
            if self.aliased > ALIAS_BUDGET:
                raise ConfigError([f"{where}: aliases expand to more than {ALIAS_BUDGET} nodes"])
        else:
            children = (node.value if isinstance(node, yaml.SequenceNode) else
                        [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else [])
            self.sizes[id(node)] = 1 + sum(self.sizes[id(child)] for child in children)
        return node


def _unshared(data: Any) -> Any:
    """`data` with every alias its own copy (the constructor shares one object between them)."""
    if isinstance(data, dict):
        return {k: _unshared(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_unshared(v) for v in data]
    return data


def _walk(node: yaml.Node, keys: tuple, lines: dict[tuple, int], twice: list[tuple], seen: set[int]) -> None:
    """Record the line of every key path, and each key given twice as (key path, line, first line).
    A node is walked once, however many aliases lead to it: key paths below an alias are located
    where it is used (its key, or its list)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    lines.setdefault(keys, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue  # a list or mapping as a key: the constructor refuses it
            child, line = keys + (key_node.value,), key_node.start_mark.line + 1
            if key_node.value in first and key_node.tag != MERGE:
                twice.append((child, line, first[key_node.value]))
            first.setdefault(key_node.value, line)
            lines[child] = line
            _walk(value_node, child, lines, twice, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, keys + (i,), lines, twice, seen)


def load_yaml(path: str | os.PathLike) -> Located:
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    data, lines, twice = None, {}, []
    loader = _Loader(text, path)
    try:
        node = loader.get_single_node()
        if node is not None:
            _walk(node, (), lines, twice, set())  # before constructing, which rewrites merge keys (`<<:`)
            data = _unshared(loader.construct_document(node))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError([f"{path}:{line}: invalid YAML: {getattr(err, 'problem', err)}"]) from None
    finally:
        loader.dispose()
    if twice:
        raise ConfigError([f"{path}:{line}: {'.'.join(map(str, keys))}: given twice, first on line {first}"
                           for keys, line, first in twice])
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


def _bools_as_numbers(raw: Any, value: Any, where: tuple = ()) -> list[tuple]:
    """The key paths where validating `raw` into `value` turned a true/false into a number."""
    if isinstance(raw, bool):
        return [where] if type(value) in (int, float) else []
    if isinstance(raw, list) and isinstance(value, (list, tuple)):
        return [p for i, (r, v) in enumerate(zip(raw, value)) for p in _bools_as_numbers(r, v, where + (i,))]
    if isinstance(raw, dict) and isinstance(value, dict):
        return [p for k, v in value.items() if k in raw for p in _bools_as_numbers(raw[k], v, where + (k,))]
    return []


class Strict(BaseModel):
    """Base for config models: unknown keys are errors, not silently ignored, and so is true/false
    where a number is expected (pydantic's lax mode reads `min_words: true` as 1). Not pydantic's strict
    mode: that would also refuse a YAML list for a tuple field, and `lr: 3e-4`, a string to PyYAML."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="wrap")
    @classmethod
    def _no_bool_numbers(cls, raw: Any, handler):
        value = handler(raw)
        if where := _bools_as_numbers(raw, value):
            at = f" (at {'.'.join(map(str, where[0]))})" if where[0] else ""
            raise PydanticCustomError("bool_number", "Input should be a number, not true/false{at}", {"at": at})
        return value


def validate(doc: Located, model: type[M]) -> M:
    """`doc` as a `model`, every validation error located in the file."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as err:
        raise ConfigError(located_errors(doc, (), err, model)) from None


def located_errors(doc: Located, where: tuple, err: ValidationError, model: type[BaseModel]) -> list[str]:
    """A model's validation errors as file:line lines; an unknown key gets the closest known ones."""
    lines = []
    for e in err.errors():
        message = e["msg"]
        if e["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(e["loc"][-1]), sorted(field_names(model)), n=2)
            message += f"; did you mean {' or '.join(close)}?" if close else ""
        lines.append(doc.error(where + tuple(e["loc"]), message))
    return lines


def field_names(model: type[BaseModel]) -> set[str]:
    """Every key `model` and the models inside it accept."""
    names, todo, seen = set(), [model], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for name, info in current.model_fields.items():
            names.add(name)
            todo += _models_in(info.annotation)
    return names


def _models_in(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def load(path: str | os.PathLike, model: type[M], overrides: list[str] = ()) -> M:
    doc = load_yaml(path)
    apply_overrides(doc, list(overrides))
    return validate(doc, model)
