"""The template syntax tree. Every node records where it starts in the source.

``str(node)`` renders a node back in template syntax; Go quotes nodes that way in messages
such as ``can't give argument to non-function .Name``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .printf import go_quote


@dataclass(slots=True, eq=False)
class Node:
    pos: int
    line: int
    col: int


@dataclass(slots=True, eq=False)
class TextNode(Node):
    text: str

    def __str__(self) -> str:
        return go_quote(self.text)


@dataclass(slots=True, eq=False)
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join(str(node) for node in self.nodes)


@dataclass(slots=True, eq=False)
class DotNode(Node):
    def __str__(self) -> str:
        return "."


@dataclass(slots=True, eq=False)
class NilNode(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass(slots=True, eq=False)
class BoolNode(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(slots=True, eq=False)
class NumberNode(Node):
    text: str
    # What the constant evaluates to where no type is expected (Go's "ideal constant")...
    value: int | float
    # ...and its value where a function parameter asks for an int or a float (None if the
    # constant cannot be one, e.g. 1.5 for an int).
    as_int: int | None
    as_float: float | None

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True, eq=False)
class StringNode(Node):
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(slots=True, eq=False)
class FieldNode(Node):
    idents: tuple[str, ...]

    def __str__(self) -> str:
        return "".join("." + ident for ident in self.idents)


@dataclass(slots=True, eq=False)
class VariableNode(Node):
    # The first ident is the variable ("$x" or "$"); the rest are fields read from it.
    idents: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.idents[0]

    def __str__(self) -> str:
        return ".".join(self.idents)


@dataclass(slots=True, eq=False)
class IdentifierNode(Node):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(slots=True, eq=False)
class ChainNode(Node):
    """Field access on something that is not a field or variable: ``(index .x 0).Name``."""

    node: Node
    fields: tuple[str, ...]

    def __str__(self) -> str:
        inner = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return inner + "".join("." + name for name in self.fields)


@dataclass(slots=True, eq=False)
class CommandNode(Node):
    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return " ".join(f"({arg})" if isinstance(arg, PipeNode) else str(arg) for arg in self.args)


@dataclass(slots=True, eq=False)
class PipeNode(Node):
    decl: list[VariableNode] = field(default_factory=list)
    is_assign: bool = False
    cmds: list[CommandNode] = field(default_factory=list)

    def __str__(self) -> str:
        text = " | ".join(str(cmd) for cmd in self.cmds)
        if self.decl:
            names = ", ".join(str(variable) for variable in self.decl)
            return f"{names} {'=' if self.is_assign else ':='} {text}"
        return text


@dataclass(slots=True, eq=False)
class ActionNode(Node):
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(slots=True, eq=False)
class ControlNode(Node):
    """``if``, ``with`` and ``range``: a pipeline, a body and an optional else body."""

    keyword: str
    pipe: PipeNode
    body: ListNode
    else_body: ListNode | None

    def __str__(self) -> str:
        text = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.body)
        if self.else_body is not None:
            text += "{{else}}" + str(self.else_body)
        return text + "{{end}}"


@dataclass(slots=True, eq=False)
class TemplateNode(Node):
    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        pipe = f" {self.pipe}" if self.pipe is not None else ""
        return "{{template " + go_quote(self.name) + pipe + "}}"


@dataclass(slots=True, eq=False)
class BreakNode(Node):
    def __str__(self) -> str:
        return "{{break}}"


@dataclass(slots=True, eq=False)
class ContinueNode(Node):
    def __str__(self) -> str:
        return "{{continue}}"
