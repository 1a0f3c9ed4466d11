"""Parser for Go text/template, following the grammar of Go's ``text/template/parse``.

Produces one ``ListNode`` per template: the main one under the parse name plus every
``{{define}}``/``{{block}}``. Checks Go performs at parse time happen here too: unknown
functions, undefined variables, ``break``/``continue`` outside ``range``, unbalanced ``end``.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from .errors import SourceMap, TemplateError
from .lexer import Kind, Token, lex
from .literals import LiteralError, parse_number, unquote_char, unquote_string
from .nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    ControlNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
)
from .printf import go_quote

_OPERAND_START = frozenset(
    {
        Kind.BOOL,
        Kind.CHAR_CONSTANT,
        Kind.DOT,
        Kind.FIELD,
        Kind.IDENTIFIER,
        Kind.NUMBER,
        Kind.NIL,
        Kind.RAW_STRING,
        Kind.STRING,
        Kind.VARIABLE,
        Kind.LEFT_PAREN,
    }
)
_CONSTANTS = (BoolNode, DotNode, NilNode, NumberNode, StringNode)


@dataclass(slots=True)
class _End:
    """``{{end}}``: closes a list; never stored in the tree."""

    token: Token

    def __str__(self) -> str:
        return "{{end}}"


@dataclass(slots=True)
class _Else:
    """``{{else}}`` (or the ``else`` of ``else if``): splits a list; never stored."""

    token: Token

    def __str__(self) -> str:
        return "{{else}}"


def parse(source: str, name: str, functions: Container[str]) -> dict[str, ListNode]:
    """Parse ``source`` into its templates, keyed by name (``name`` is the main one)."""
    return _Parser(source, name, functions).parse()


def is_empty_template(body: ListNode) -> bool:
    """Go treats a template of only whitespace as "not defined" when redefining."""
    return all(isinstance(node, TextNode) and not node.text.strip() for node in body.nodes)


class _Parser:
    def __init__(self, source: str, name: str, functions: Container[str]) -> None:
        self.name = name
        self.functions = functions
        self.tokens = lex(source)
        self.index = 0
        self.source_map = SourceMap(source)
        self.templates: dict[str, ListNode] = {}
        # Variables visible at this point of the source; "$" is always the template's data.
        self.vars: list[str] = ["$"]
        self.range_depth = 0

    # --- errors and positions -------------------------------------------------------------

    def _error(self, message: str, pos: int) -> TemplateError:
        line, column = self.source_map.locate(pos)
        return TemplateError(message, name=self.name, line=line, column=column)

    def _unexpected(self, token: Token, context: str) -> TemplateError:
        return self._error(f"unexpected {token.describe()} in {context}", token.pos)

    def _where(self, pos: int) -> tuple[int, int, int]:
        """A node's (pos, line, col), the leading fields of every node."""
        line, col = self.source_map.locate(pos)
        return pos, line, col

    # --- token stream ---------------------------------------------------------------------

    def _next(self) -> Token:
        token = self.tokens[self.index]
        if token.kind == Kind.ERROR:
            raise self._error(token.value, token.pos)
        if token.kind != Kind.EOF:
            self.index += 1
        return token

    def _backup(self, count: int = 1) -> None:
        self.index -= count

    def _peek(self) -> Token:
        return self.tokens[self.index]

    def _skip_spaces(self) -> None:
        while self.tokens[self.index].kind == Kind.SPACE:
            self.index += 1

    def _peek_non_space(self) -> Token:
        index = self.index
        while self.tokens[index].kind == Kind.SPACE:
            index += 1
        return self.tokens[index]

    def _next_non_space(self) -> Token:
        self._skip_spaces()
        return self._next()

    def _expect(self, kind: str, context: str) -> Token:
        token = self._next_non_space()
        if token.kind != kind:
            raise self._unexpected(token, context)
        return token

    # --- templates ------------------------------------------------------------------------

    def parse(self) -> dict[str, ListNode]:
        root = ListNode(*self._where(0))
        while self._peek().kind != Kind.EOF:
            if self._peek().kind == Kind.LEFT_DELIM:
                start = self.index
                self._next()
                keyword = self._next_non_space()
                if keyword.kind == Kind.KEYWORD and keyword.value == "define":
                    self._parse_definition(keyword)
                    continue
                self.index = start
            node = self._text_or_action()
            if isinstance(node, _End | _Else):
                raise self._error(f"unexpected {node}", node.token.pos)
            root.nodes.append(node)
        self._add_template(self.name, root, 0)
        return self.templates

    def _add_template(self, name: str, body: ListNode, pos: int) -> None:
        existing = self.templates.get(name)
        if existing is None or is_empty_template(existing):
            self.templates[name] = body
        elif not is_empty_template(body):
            raise self._error(f"template: multiple definition of template {go_quote(name)}", pos)

    def _parse_body(self, opener: Token, context: str) -> ListNode:
        """The body of a define or block: a fresh variable scope, outside any range."""
        saved_vars, saved_depth = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        body, end = self._item_list(opener)
        if not isinstance(end, _End):
            raise self._error(f"unexpected {end} in {context}", end.token.pos)
        self.vars, self.range_depth = saved_vars, saved_depth
        return body

    def _template_name(self, token: Token, context: str) -> str:
        if token.kind not in (Kind.STRING, Kind.RAW_STRING):
            raise self._unexpected(token, context)
        return self._unquote(token)

    def _parse_definition(self, keyword: Token) -> None:
        context = "define clause"
        name_token = self._next_non_space()
        name = self._template_name(name_token, context)
        self._expect(Kind.RIGHT_DELIM, context)
        body = self._parse_body(keyword, context)
        self._add_template(name, body, name_token.pos)

    def _item_list(self, opener: Token) -> tuple[ListNode, _End | _Else]:
        body = ListNode(*self._where(self._peek_non_space().pos))
        while self._peek_non_space().kind != Kind.EOF:
            node = self._text_or_action()
            if isinstance(node, _End | _Else):
                return body, node
            body.nodes.append(node)
        raise self._error(
            f"unexpected EOF: {{{{{opener.value}}}}} has no matching {{{{end}}}}", opener.pos
        )

    def _text_or_action(self) -> Node | _End | _Else:
        token = self._next_non_space()
        if token.kind == Kind.TEXT:
            return TextNode(*self._where(token.pos), text=token.value)
        if token.kind == Kind.LEFT_DELIM:
            return self._action(token)
        raise self._unexpected(token, "input")

    # --- actions --------------------------------------------------------------------------

    def _action(self, delim: Token) -> Node | _End | _Else:
        token = self._next_non_space()
        if token.kind == Kind.KEYWORD:
            value = token.value
            if value in ("if", "with", "range"):
                return self._control(token)
            if value == "end":
                self._expect(Kind.RIGHT_DELIM, "end")
                return _End(token)
            if value == "else":
                return self._else(token)
            if value == "template":
                return self._template_call(token)
            if value == "block":
                return self._block(token)
            if value in ("break", "continue"):
                return self._loop_control(token)
        self._backup()
        pipe = self._pipeline("command", Kind.RIGHT_DELIM)
        return ActionNode(*self._where(delim.pos), pipe=pipe)

    def _control(self, keyword: Token) -> ControlNode:
        context = keyword.value
        saved_vars = len(self.vars)
        pipe = self._pipeline(context, Kind.RIGHT_DELIM)
        if context == "range":
            self.range_depth += 1
        body, following = self._item_list(keyword)
        if context == "range":
            self.range_depth -= 1
        else_body: ListNode | None = None
        if isinstance(following, _Else):
            chained = self._peek()
            if context != "range" and chained.kind == Kind.KEYWORD and chained.value == context:
                # "{{else if x}}" is "{{else}}{{if x}}...{{end}}" sharing one {{end}}.
                self._next()
                else_body = ListNode(*self._where(chained.pos))
                else_body.nodes.append(self._control(chained))
            else:
                else_body, closing = self._item_list(keyword)
                if not isinstance(closing, _End):
                    raise self._error(f"expected end; found {closing}", closing.token.pos)
        # Variables declared in the pipeline or the bodies go out of scope at {{end}}.
        del self.vars[saved_vars:]
        return ControlNode(
            *self._where(keyword.pos), keyword=context, pipe=pipe, body=body, else_body=else_body
        )

    def _else(self, token: Token) -> _Else:
        following = self._peek_non_space()
        if following.kind == Kind.KEYWORD and following.value in ("if", "with"):
            self._skip_spaces()
            return _Else(token)
        self._expect(Kind.RIGHT_DELIM, "else")
        return _Else(token)

    def _loop_control(self, token: Token) -> Node:
        closing = self._next_non_space()
        if closing.kind != Kind.RIGHT_DELIM:
            raise self._unexpected(closing, "{{" + token.value + "}}")
        if self.range_depth == 0:
            raise self._error(f"{{{{{token.value}}}}} outside {{{{range}}}}", token.pos)
        node_type = BreakNode if token.value == "break" else ContinueNode
        return node_type(*self._where(token.pos))

    def _template_call(self, keyword: Token) -> TemplateNode:
        context = "template clause"
        name_token = self._next_non_space()
        name = self._template_name(name_token, context)
        pipe: PipeNode | None = None
        if self._next_non_space().kind != Kind.RIGHT_DELIM:
            self._backup()
            pipe = self._pipeline(context, Kind.RIGHT_DELIM)
        return TemplateNode(*self._where(keyword.pos), name=name, pipe=pipe)

    def _block(self, keyword: Token) -> TemplateNode:
        context = "block clause"
        name_token = self._next_non_space()
        name = self._template_name(name_token, context)
        pipe = self._pipeline(context, Kind.RIGHT_DELIM)
        body = self._parse_body(keyword, context)
        self._add_template(name, body, name_token.pos)
        return TemplateNode(*self._where(keyword.pos), name=name, pipe=pipe)

    # --- pipelines ------------------------------------------------------------------------

    def _pipeline(self, context: str, end: str) -> PipeNode:
        start = self._peek_non_space()
        pipe = PipeNode(*self._where(start.pos))
        self._declarations(pipe, context)
        while True:
            token = self._next_non_space()
            if token.kind == end:
                self._check_pipeline(pipe, context, start)
                return pipe
            if token.kind not in _OPERAND_START:
                raise self._unexpected(token, context)
            self._backup()
            pipe.cmds.append(self._command())

    def _declarations(self, pipe: PipeNode, context: str) -> None:
        while self._peek_non_space().kind == Kind.VARIABLE:
            restart = self.index
            variable = self._next_non_space()
            following = self._peek_non_space()
            if following.kind in (Kind.DECLARE, Kind.ASSIGN):
                self._next_non_space()
                pipe.is_assign = following.kind == Kind.ASSIGN
                pipe.decl.append(self._variable_node(variable))
                self.vars.append(variable.value)
                return
            if following.kind == Kind.CHAR and following.value == ",":
                self._next_non_space()
                pipe.decl.append(self._variable_node(variable))
                self.vars.append(variable.value)
                if context == "range" and len(pipe.decl) < 2:
                    upcoming = self._peek_non_space().kind
                    if upcoming in (Kind.VARIABLE, Kind.RIGHT_DELIM, Kind.RIGHT_PAREN):
                        continue
                    raise self._error("range can only initialize variables", variable.pos)
                raise self._error(f"too many declarations in {context}", variable.pos)
            self.index = restart
            return

    def _check_pipeline(self, pipe: PipeNode, context: str, start: Token) -> None:
        if not pipe.cmds:
            raise self._error(f"missing value for {context}", start.pos)
        for stage, cmd in enumerate(pipe.cmds[1:], start=2):
            first = cmd.args[0]
            if isinstance(first, _CONSTANTS):
                raise self._error(f"non executable command in pipeline stage {stage}", first.pos)

    def _command(self) -> CommandNode:
        cmd = CommandNode(*self._where(self._peek_non_space().pos))
        while True:
            self._skip_spaces()
            operand = self._operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self._next()
            if token.kind == Kind.SPACE:
                continue
            if token.kind in (Kind.RIGHT_DELIM, Kind.RIGHT_PAREN):
                self._backup()
            elif token.kind != Kind.PIPE:
                raise self._unexpected(token, "operand")
            break
        if not cmd.args:
            raise self._error("empty command", cmd.pos)
        return cmd

    def _operand(self) -> Node | None:
        node = self._term()
        if node is None or self._peek().kind != Kind.FIELD:
            return node
        fields: list[str] = []
        while self._peek().kind == Kind.FIELD:
            fields.append(self._next().value[1:])
        where = (node.pos, node.line, node.col)
        if isinstance(node, FieldNode):
            return FieldNode(*where, idents=node.idents + tuple(fields))
        if isinstance(node, VariableNode):
            return VariableNode(*where, idents=node.idents + tuple(fields))
        if isinstance(node, _CONSTANTS):
            raise self._error(f"unexpected . after term {go_quote(str(node))}", node.pos)
        return ChainNode(*where, node=node, fields=tuple(fields))

    def _term(self) -> Node | None:
        token = self._next_non_space()
        kind = token.kind
        where = self._where(token.pos)
        if kind == Kind.IDENTIFIER:
            if token.value not in self.functions:
                raise self._error(f"function {go_quote(token.value)} not defined", token.pos)
            return IdentifierNode(*where, name=token.value)
        if kind == Kind.DOT:
            return DotNode(*where)
        if kind == Kind.NIL:
            return NilNode(*where)
        if kind == Kind.VARIABLE:
            if token.value not in self.vars:
                raise self._error(f"undefined variable {go_quote(token.value)}", token.pos)
            return self._variable_node(token)
        if kind == Kind.FIELD:
            return FieldNode(*where, idents=(token.value[1:],))
        if kind == Kind.BOOL:
            return BoolNode(*where, value=token.value == "true")
        if kind in (Kind.NUMBER, Kind.CHAR_CONSTANT):
            return self._number(token)
        if kind == Kind.LEFT_PAREN:
            pipe = self._pipeline("parenthesized pipeline", Kind.RIGHT_PAREN)
            pipe.pos, pipe.line, pipe.col = where
            return pipe
        if kind in (Kind.STRING, Kind.RAW_STRING):
            return StringNode(*where, quoted=token.value, text=self._unquote(token))
        self._backup()
        return None

    # --- literals -------------------------------------------------------------------------

    def _variable_node(self, token: Token) -> VariableNode:
        return VariableNode(*self._where(token.pos), idents=(token.value,))

    def _unquote(self, token: Token) -> str:
        try:
            return unquote_string(token.value)
        except LiteralError as error:
            raise self._error(f"{error} in string {token.value}", token.pos) from None

    def _number(self, token: Token) -> NumberNode:
        value: int | float
        as_int: int | None
        as_float: float | None
        try:
            if token.kind == Kind.CHAR_CONSTANT:
                code = unquote_char(token.value)
                value, as_int, as_float = code, code, float(code)
            else:
                value, as_int, as_float = parse_number(token.value)
        except LiteralError as error:
            raise self._error(str(error), token.pos) from None
        return NumberNode(
            *self._where(token.pos),
            text=token.value,
            value=value,
            as_int=as_int,
            as_float=as_float,
        )
