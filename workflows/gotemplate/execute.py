"""Executes a parsed template against data, with Go's ``missingkey=error`` semantics."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .builtins import call_function, go_call
from .callspec import GO_TYPE_NAMES, FuncSpec, spec_for
from .errors import GoFuncError, TemplateError
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
from .values import format_value, go_type_name, is_true, sorted_keys

# Python recursion, not Go's 100000, bounds how deeply templates may invoke templates.
MAX_TEMPLATE_DEPTH = 100


class _Missing:
    """No value was piped into a command (distinct from a piped nil)."""


MISSING: Any = _Missing()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Executor:
    def __init__(
        self, name: str, templates: Mapping[str, ListNode], funcs: Mapping[str, FuncSpec]
    ) -> None:
        self.name = name
        self.templates = templates
        self.funcs = funcs
        self.out: list[str] = []
        # The variable stack: [name, value] pairs, innermost last.
        self.vars: list[list[Any]] = []
        self.depth = 0
        self._walkers: dict[type, Callable[[Any, Any], None]] = {
            TextNode: self._walk_text,
            ActionNode: self._walk_action,
            ControlNode: self._walk_control,
            TemplateNode: self._walk_template,
            BreakNode: self._walk_break,
            ContinueNode: self._walk_continue,
            ListNode: self._walk_list,
        }

    def error(self, node: Node, message: str) -> TemplateError:
        return TemplateError(message, name=self.name, line=node.line, column=node.col)

    def execute(self, data: object) -> str:
        self.vars = [["$", data]]
        self._walk_list(data, self.templates[self.name])
        return "".join(self.out)

    # --- statements -----------------------------------------------------------------------

    def _walk_list(self, dot: object, body: ListNode) -> None:
        walkers = self._walkers
        for node in body.nodes:
            walkers[type(node)](dot, node)

    def _walk_text(self, dot: object, node: TextNode) -> None:
        self.out.append(node.text)

    def _walk_action(self, dot: object, node: ActionNode) -> None:
        value = self._eval_pipeline(dot, node.pipe)
        if node.pipe.decl:
            return
        if type(value) is str:
            self.out.append(value)
        elif value is None:
            self.out.append("<no value>")
        elif inspect.isroutine(value):
            raise self.error(node, f"can't print {node} of type func")
        else:
            self.out.append(format_value(value))

    def _walk_break(self, dot: object, node: BreakNode) -> None:
        raise _Break

    def _walk_continue(self, dot: object, node: ContinueNode) -> None:
        raise _Continue

    def _walk_control(self, dot: object, node: ControlNode) -> None:
        mark = len(self.vars)
        try:
            if node.keyword == "range":
                self._walk_range(dot, node)
                return
            value = self._eval_pipeline(dot, node.pipe)
            if is_true(value):
                self._walk_list(value if node.keyword == "with" else dot, node.body)
            elif node.else_body is not None:
                self._walk_list(dot, node.else_body)
        finally:
            # Variables declared inside the control structure end with it.
            del self.vars[mark:]

    def _range_items(self, node: ControlNode, value: object) -> Iterator[tuple[object, object]]:
        if value is None:
            return iter(())
        if isinstance(value, Mapping):
            return ((key, value[key]) for key in sorted_keys(value))
        if isinstance(value, list | tuple):
            return enumerate(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if len(node.pipe.decl) > 1:
                raise self.error(node, f"can't use {value} to iterate over more than one variable")
            return ((None, number) for number in range(value))
        raise self.error(node, f"range can't iterate over {format_value(value)}")

    def _walk_range(self, dot: object, node: ControlNode) -> None:
        value = self._eval_pipeline(dot, node.pipe)
        decl = node.pipe.decl
        mark = len(self.vars)
        ran = False
        for key, element in self._range_items(node, value):
            ran = True
            if decl:
                if node.pipe.is_assign:
                    # "range $i, $e = ..." assigns existing variables.
                    first = key if len(decl) > 1 else element
                    self._set_var(decl[0], first)
                    if len(decl) > 1:
                        self._set_var(decl[1], element)
                else:
                    # The pipeline pushed the declared variables; the element is on top and
                    # the index or key (with two variables) just below it.
                    self.vars[mark - 1][1] = element
                    if len(decl) > 1:
                        self.vars[mark - 2][1] = key
            try:
                self._walk_list(element, node.body)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[mark:]
        if not ran and node.else_body is not None:
            self._walk_list(dot, node.else_body)

    def _walk_template(self, dot: object, node: TemplateNode) -> None:
        body = self.templates.get(node.name)
        if body is None:
            raise self.error(node, f"template {go_quote(node.name)} not defined")
        if self.depth >= MAX_TEMPLATE_DEPTH:
            raise self.error(node, f"exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})")
        value = self._eval_pipeline(dot, node.pipe) if node.pipe is not None else None
        # Invoked templates see no variables of the caller, only "$" bound to their data.
        saved_vars = self.vars
        self.vars = [["$", value]]
        self.depth += 1
        try:
            self._walk_list(value, body)
        finally:
            self.depth -= 1
            self.vars = saved_vars

    # --- expressions ----------------------------------------------------------------------

    def _eval_pipeline(self, dot: object, pipe: PipeNode) -> Any:
        value = MISSING
        for cmd in pipe.cmds:
            value = self._eval_command(dot, cmd, value)
        for variable in pipe.decl:
            if pipe.is_assign:
                self._set_var(variable, value)
            else:
                self.vars.append([variable.name, value])
        return value

    def _not_a_function(self, args: list[Node], final: object) -> None:
        if len(args) > 1 or final is not MISSING:
            raise self.error(args[0], f"can't give argument to non-function {args[0]}")

    def _eval_command(self, dot: object, cmd: CommandNode, final: object) -> Any:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self._eval_field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self._eval_function(dot, first, cmd.args, final)
        if isinstance(first, VariableNode):
            return self._eval_variable(dot, first, cmd.args, final)
        if isinstance(first, ChainNode):
            return self._eval_chain(dot, first, cmd.args, final)
        self._not_a_function(cmd.args, final)
        if isinstance(first, PipeNode):
            return self._eval_pipeline(dot, first)
        if isinstance(first, StringNode):
            return first.text
        if isinstance(first, NumberNode | BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise self.error(first, "nil is not a command")
        raise self.error(first, f"can't evaluate command {go_quote(str(first))}")

    def _eval_variable(
        self, dot: object, node: VariableNode, args: list[Node] | None, final: object
    ) -> Any:
        value = self._var_value(node)
        if len(node.idents) == 1:
            if args is not None:
                self._not_a_function(args, final)
            return value
        return self._eval_field_chain(dot, value, node, node.idents[1:], args, final)

    def _eval_chain(
        self, dot: object, node: ChainNode, args: list[Node] | None, final: object
    ) -> Any:
        if isinstance(node.node, NilNode):
            raise self.error(node, f"indirection through explicit nil in {node}")
        receiver = self._eval_arg(dot, node.node, object)
        return self._eval_field_chain(dot, receiver, node, node.fields, args, final)

    def _eval_field_chain(
        self,
        dot: object,
        receiver: object,
        node: Node,
        idents: tuple[str, ...],
        args: list[Node] | None,
        final: object,
    ) -> Any:
        for ident in idents[:-1]:
            receiver = self._eval_field(dot, ident, node, None, MISSING, receiver)
        return self._eval_field(dot, idents[-1], node, args, final, receiver)

    def _eval_field(
        self,
        dot: object,
        name: str,
        node: Node,
        args: list[Node] | None,
        final: object,
        receiver: object,
    ) -> Any:
        if receiver is None:
            raise self.error(node, f"nil pointer evaluating interface {{}}.{name}")
        has_args = (args is not None and len(args) > 1) or final is not MISSING
        if isinstance(receiver, Mapping):
            if has_args:
                raise self.error(node, f"{name} is not a method but has arguments")
            try:
                return receiver[name]
            except KeyError:
                raise self.error(node, f"map has no entry for key {go_quote(name)}") from None
            except TypeError:
                pass
        elif not name.startswith("_") and not isinstance(
            receiver, str | int | float | list | tuple | bytes
        ):
            # Only public attributes: a template must not reach into Python internals.
            try:
                attribute = getattr(receiver, name)
            except AttributeError:
                pass
            except Exception as error:
                raise self.error(node, f"error evaluating field {name}: {error}") from error
            else:
                if inspect.ismethod(attribute) or inspect.isbuiltin(attribute):
                    return self._eval_call(dot, spec_for(attribute), node, name, args, final)
                if has_args:
                    raise self.error(
                        node, f"{name} has arguments but cannot be invoked as function"
                    )
                return attribute
        raise self.error(node, f"can't evaluate field {name} in type {go_type_name(receiver)}")

    def _eval_function(
        self, dot: object, node: IdentifierNode, args: list[Node] | None, final: object
    ) -> Any:
        spec = self.funcs.get(node.name)
        if spec is None:
            raise self.error(node, f"{go_quote(node.name)} is not a defined function")
        return self._eval_call(dot, spec, node, node.name, args, final)

    def _eval_call(
        self,
        dot: object,
        spec: FuncSpec,
        node: Node,
        name: str,
        args: list[Node] | None,
        final: object,
    ) -> Any:
        arg_nodes = args[1:] if args else []
        count = len(arg_nodes) + (final is not MISSING)
        problem = spec.arity_error(name, count, len(arg_nodes))
        if problem:
            raise self.error(node, problem)
        if spec.short_circuit:
            # and/or stop at the first argument that decides the result and return it.
            value: Any = None
            for arg in arg_nodes:
                value = self._eval_arg(dot, arg, object)
                if is_true(value) == (name == "or"):
                    return value
            return final if final is not MISSING else value
        argv = [
            self._eval_arg(dot, arg, spec.param_type(index)) for index, arg in enumerate(arg_nodes)
        ]
        if final is not MISSING:
            argv.append(self._validate(final, spec.param_type(count - 1), node))
        target = spec.fn
        if target is go_call:
            # Go names the callee in call's own errors: "wrong number of args for .Func".
            callee = str(arg_nodes[0]) if arg_nodes else format_value(final)
            target = functools.partial(call_function, callee, argv[0])
            argv = argv[1:]
        try:
            return target(*argv)
        except TemplateError:
            raise
        except GoFuncError as error:
            raise self.error(node, f"error calling {name}: {error}") from None
        except Exception as error:
            detail = str(error) or type(error).__name__
            raise self.error(node, f"error calling {name}: {detail}") from error

    def _eval_arg(self, dot: object, node: Node, want: type) -> Any:
        value: Any
        if isinstance(node, FieldNode):
            value = self._eval_field_chain(dot, dot, node, node.idents, [node], MISSING)
        elif isinstance(node, VariableNode):
            value = self._eval_variable(dot, node, None, MISSING)
        elif isinstance(node, PipeNode):
            value = self._eval_pipeline(dot, node)
        elif isinstance(node, IdentifierNode):
            value = self._eval_function(dot, node, None, MISSING)
        elif isinstance(node, ChainNode):
            value = self._eval_chain(dot, node, None, MISSING)
        elif isinstance(node, DotNode):
            value = dot
        elif isinstance(node, NilNode):
            if want is object:
                return None
            raise self.error(node, f"cannot assign nil to {GO_TYPE_NAMES[want]}")
        else:
            return self._constant(node, want)
        return self._validate(value, want, node)

    def _constant(self, node: Node, want: type) -> Any:
        """A literal passed to a parameter: Go checks it against the parameter's type."""
        if isinstance(node, NumberNode):
            if want is object:
                return node.value
            if want is int and node.as_int is not None:
                return node.as_int
            if want is float and node.as_float is not None:
                return node.as_float
            raise self.error(node, f"expected {self._expected(want)}; found {node}")
        if isinstance(node, StringNode):
            if want in (object, str):
                return node.text
            raise self.error(node, f"expected {self._expected(want)}; found {node}")
        if isinstance(node, BoolNode):
            if want in (object, bool):
                return node.value
            raise self.error(node, f"expected {self._expected(want)}; found {node}")
        raise self.error(node, f"can't handle {node} for arg of type {GO_TYPE_NAMES[want]}")

    @staticmethod
    def _expected(want: type) -> str:
        return {int: "integer", float: "float"}.get(want, GO_TYPE_NAMES[want])

    def _validate(self, value: object, want: type, node: Node) -> Any:
        if want is object:
            return value
        if value is None:
            raise self.error(node, f"invalid value; expected {GO_TYPE_NAMES[want]}")
        if want is str and isinstance(value, str):
            return value
        if want is bool and isinstance(value, bool):
            return value
        # Go assigns only values of exactly the parameter's type: Sprig's int64 results (which
        # name their Go type) are not ints, and no integer is a float64.
        if not isinstance(value, bool) and getattr(type(value), "GO_TYPE", None) is None:
            if want is int and isinstance(value, int):
                return value
            if want is float and isinstance(value, float):
                return value
        raise self.error(
            node,
            f"wrong type for value; expected {GO_TYPE_NAMES[want]}; got {go_type_name(value)}",
        )

    # --- variables ------------------------------------------------------------------------

    def _var_value(self, node: VariableNode) -> Any:
        name = node.name
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        raise self.error(node, f"undefined variable: {name}")

    def _set_var(self, node: VariableNode, value: object) -> None:
        name = node.name
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        raise self.error(node, f"undefined variable: {name}")
