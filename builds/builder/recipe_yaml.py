"""The YAML layer of recipe checking: nodes that remember where they start, and a checker that
collects every problem with its line and column instead of stopping at the first."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

# Image references: [domain[:port]/]path[:tag][@digest], the distribution project's grammar.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = (
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)"
)
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(rf"^{_NAME}(?::{_TAG})?(?:@{_DIGEST})?$")
# An unexpanded ${NAME}: HookOS templates are filled in by envsubst before the build.
PLACEHOLDER = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


@dataclass
class Problem:
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


class RecipeError(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class Node:
    """A YAML value and where it starts (1-based)."""

    __slots__ = ("column", "line", "text", "value")

    def __init__(self, value: Any, line: int, column: int, text: str | None = None):
        self.value = value
        self.line = line
        self.column = column
        self.text = text

    def plain(self) -> Any:
        if isinstance(self.value, dict):
            return {k: v.plain() for k, (_, v) in self.value.items()}
        if isinstance(self.value, list):
            return [item.plain() for item in self.value]
        return self.value


def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Node:
    mark = node.start_mark
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = construct(loader, key_node)
            mapping[str(key.value)] = (key, construct(loader, value_node))
        return Node(mapping, mark.line + 1, mark.column + 1)
    if isinstance(node, yaml.SequenceNode):
        return Node([construct(loader, n) for n in node.value], mark.line + 1, mark.column + 1)
    text = node.value if isinstance(node, yaml.ScalarNode) else None
    return Node(loader.construct_object(node), mark.line + 1, mark.column + 1, text)


class Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # What builds but deserves a word: ignored keys, files read from the build host.
        self.warnings: list[Problem] = []

    def problem(self, node: Node, message: str) -> None:
        self.problems.append(Problem(node.line, node.column, message))

    def warn(self, node: Node, message: str) -> None:
        self.warnings.append(Problem(node.line, node.column, message))

    def mapping(self, node: Node, where: str) -> dict[str, tuple[Node, Node]] | None:
        if isinstance(node.value, dict):
            return node.value
        self.problem(node, f"{where} must be a mapping")
        return None

    def unknown_keys(self, mapping: dict[str, tuple[Node, Node]], known: set[str], where: str):
        for key, (key_node, _) in mapping.items():
            if key not in known:
                self.problem(key_node, f"{where}: unknown key '{key}'")

    def string(self, node: Node, where: str) -> str | None:
        if (
            isinstance(node.value, bool)
            or node.value is None
            or isinstance(node.value, dict | list)
        ):
            self.problem(node, f"{where} must be a string")
            return None
        # Go reads `mode: 0644` as the string "0644": keep the source text for scalars.
        return node.text if node.text is not None else str(node.value)

    def string_list(self, node: Node, where: str) -> list[str]:
        if not isinstance(node.value, list):
            self.problem(node, f"{where} must be a list of strings")
            return []
        values = [self.string(item, f"{where} item") for item in node.value]
        return [v for v in values if v is not None]

    def boolean(self, node: Node, where: str) -> bool:
        if not isinstance(node.value, bool):
            self.problem(node, f"{where} must be true or false")
            return False
        return node.value

    def image_reference(self, node: Node, where: str) -> str:
        image = self.string(node, where) or ""
        if image and not IMAGE_REFERENCE.match(image):
            hint = (
                " (an unexpanded placeholder: fill it in, e.g. with envsubst, before the build)"
                if PLACEHOLDER.search(image)
                else ""
            )
            self.problem(node, f"{where}: '{image}' is not a valid image reference{hint}")
        return image


def load(text: str) -> Node:
    try:
        # The reader checks the whole text for characters YAML forbids as it is built.
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        offset = max(0, min(exc.position, len(text)))
        line, column = text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"YAML: character #x{code:04x} is not allowed"
        raise RecipeError([Problem(line, column, message)]) from exc
    try:
        node = loader.get_single_node()
        if node is None:
            raise RecipeError([Problem(1, 1, "the recipe is empty")])
        return construct(loader, node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise RecipeError([Problem(line, column, f"YAML: {exc.problem or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise RecipeError([Problem(1, 1, f"YAML: {exc}")]) from exc
    finally:
        loader.dispose()
