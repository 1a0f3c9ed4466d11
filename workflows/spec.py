"""Tinkerbell workflow YAML (as rendered from a template): parsing and schema validation.

Every problem carries the line and column of the YAML node it is about, in the rendered text;
``workflows.rendering`` maps them back onto the template.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from workflows.gotemplate.goyaml import GoLoader, character_name, text_position

# Docker/OCI image references: [domain[:port]/]path[:tag][@digest] (distribution's grammar).
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = (
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)"
)
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(rf"^{_NAME}(?::{_TAG})?(?:@{_DIGEST})?$")

# ``id`` is written (empty) by EKS Anywhere's generator and means nothing to the engine.
WORKFLOW_KEYS = {"version", "name", "id", "global_timeout", "tasks"}
TASK_KEYS = {"name", "worker", "volumes", "environment", "actions"}
ACTION_KEYS = {
    "name",
    "image",
    "timeout",
    "command",
    "args",
    "environment",
    "volumes",
    "pid",
    "namespaces",
    "on-timeout",
    "on-failure",
}
NAMESPACE_KEYS = {"pid", "network"}
# Tinkerbell reads a missing timeout as 0 and never stops such an action; Rackpilot gives every
# action and the workflow a deadline, so a missing one gets these (and the import says so).
DEFAULT_ACTION_TIMEOUT = 3600


@dataclass
class SpecProblem:
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


class SpecError(Exception):
    def __init__(self, problems: list[SpecProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass
class SpecAction:
    name: str
    image: str
    timeout: int
    command: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    pid: str = ""
    on_timeout: list[str] = field(default_factory=list)
    on_failure: list[str] = field(default_factory=list)


@dataclass
class SpecTask:
    name: str
    worker: str
    volumes: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    actions: list[SpecAction] = field(default_factory=list)


@dataclass
class WorkflowSpec:
    name: str
    version: str
    global_timeout: int
    tasks: list[SpecTask]
    # Defaults taken for what the YAML left out (position and what was assumed); the workflow
    # is valid, and the Tinkerbell import lists them in its report.
    warnings: list[SpecProblem] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The shape `render_template --format json` prints: task environment merged into each
        action (the action wins) and task volumes before the action's, as Tinkerbell runs them."""
        return {
            "name": self.name,
            "global_timeout": self.global_timeout,
            "tasks": [
                {
                    "name": task.name,
                    "worker": task.worker,
                    "volumes": task.volumes,
                    "environment": task.environment,
                    "actions": [asdict(action) for action in task.actions],
                }
                for task in self.tasks
            ],
        }


class _Node:
    """A YAML value with its position (1-based line and column).

    ``text`` is a scalar's source text: string fields use it, as Go reads ``MODE: 0644`` into a
    string as "0644" where YAML 1.1 would make it the number 420.
    """

    __slots__ = ("column", "line", "text", "value")

    def __init__(self, value: Any, line: int, column: int, text: str | None = None):
        self.value = value
        self.line = line
        self.column = column
        self.text = text

    def as_string(self) -> str:
        if self.value is None:
            return ""
        if self.text is not None:
            return self.text
        return str(self.value)


class _PositionLoader(GoLoader):
    pass


def _construct(loader: _PositionLoader, node: yaml.Node) -> _Node:
    mark = node.start_mark
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, tuple[_Node, _Node]] = {}
        for key_node, value_node in node.value:
            key = _construct(loader, key_node)
            mapping[key.as_string()] = (key, _construct(loader, value_node))
        return _Node(mapping, mark.line + 1, mark.column + 1)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_construct(loader, n) for n in node.value], mark.line + 1, mark.column + 1)
    text = node.value if isinstance(node, yaml.ScalarNode) else None
    return _Node(loader.construct_object(node), mark.line + 1, mark.column + 1, text)


def _load(text: str) -> _Node:
    try:
        # The reader checks the whole text for characters YAML forbids as it is built.
        loader = _PositionLoader(text)
    except yaml.reader.ReaderError as exc:
        line, column = text_position(text, exc.position)
        message = f"YAML: character {character_name(exc.character)} is not allowed"
        raise SpecError([SpecProblem(line, column, message)]) from exc
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError([SpecProblem(1, 1, "the workflow is empty")])
        # Constructing values raises too (e.g. a lone "=", YAML's unsupported value tag).
        return _construct(loader, node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError([SpecProblem(line, column, f"YAML: {exc.problem or exc}")]) from exc
    finally:
        loader.dispose()


class _Checker:
    def __init__(self) -> None:
        self.problems: list[SpecProblem] = []
        self.warnings: list[SpecProblem] = []

    def warning(self, node: _Node, message: str) -> None:
        self.warnings.append(SpecProblem(node.line, node.column, message))

    def problem(self, node: _Node, message: str) -> None:
        self.problems.append(SpecProblem(node.line, node.column, message))

    def mapping(self, node: _Node, where: str) -> dict[str, tuple[_Node, _Node]] | None:
        if not isinstance(node.value, dict):
            self.problem(node, f"{where} must be a mapping")
            return None
        return node.value

    def unknown_keys(
        self, mapping: dict[str, tuple[_Node, _Node]], known: set[str], where: str
    ) -> None:
        for key, (key_node, _) in mapping.items():
            if key not in known:
                self.problem(key_node, f"unknown key '{key}' in {where}")

    def string(
        self,
        mapping: dict[str, tuple[_Node, _Node]],
        key: str,
        where: str,
        *,
        required: bool,
        parent: _Node,
    ) -> str:
        if key not in mapping:
            if required:
                self.problem(parent, f"{where} has no '{key}'")
            return ""
        node = mapping[key][1]
        if node.value is None or isinstance(node.value, list | dict):
            self.problem(node, f"{where}.{key} must be a string")
            return ""
        text = node.as_string()
        if required and not text.strip():
            self.problem(node, f"{where}.{key} is empty")
        return text

    def positive_int(
        self,
        mapping: dict[str, tuple[_Node, _Node]],
        key: str,
        where: str,
        parent: _Node,
        *,
        optional: bool = False,
    ) -> int:
        """The value; 0 when it is missing and ``optional`` (the caller picks the default)."""
        if key not in mapping or (optional and mapping[key][1].value is None):
            if not optional:
                self.problem(parent, f"{where} has no '{key}' (seconds)")
            return 0
        node = mapping[key][1]
        value = node.value
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.problem(
                node, f"{where}.{key} must be a positive number of seconds, not {node.value!r}"
            )
            return 0
        return value

    def string_list(
        self, mapping: dict[str, tuple[_Node, _Node]], key: str, where: str
    ) -> list[str]:
        if key not in mapping or mapping[key][1].value is None:
            return []
        node = mapping[key][1]
        if isinstance(node.value, str):
            return [node.value]
        if not isinstance(node.value, list):
            self.problem(node, f"{where}.{key} must be a list of strings")
            return []
        items = []
        for item in node.value:
            if item.value is None or isinstance(item.value, list | dict):
                self.problem(item, f"{where}.{key} items must be strings")
                continue
            items.append(item.as_string())
        return items

    def environment(self, mapping: dict[str, tuple[_Node, _Node]], where: str) -> dict[str, str]:
        if "environment" not in mapping or mapping["environment"][1].value is None:
            return {}
        node = mapping["environment"][1]
        env = self.mapping(node, f"{where}.environment")
        result: dict[str, str] = {}
        for key, (_, value) in (env or {}).items():
            if isinstance(value.value, list | dict):
                self.problem(value, f"{where}.environment.{key} must be a string")
                continue
            result[key] = value.as_string()
        return result


def parse_workflow(text: str) -> WorkflowSpec:
    """Parse and validate rendered workflow YAML; raises SpecError listing every problem."""
    root = _load(text)
    check = _Checker()
    top = check.mapping(root, "the workflow")
    if top is None:
        raise SpecError(check.problems)
    check.unknown_keys(top, WORKFLOW_KEYS, "the workflow")
    name = check.string(top, "name", "the workflow", required=True, parent=root)
    # Tinkerbell never reads the version; it stays for export.
    version = check.string(top, "version", "the workflow", required=False, parent=root)
    global_timeout = check.positive_int(top, "global_timeout", "the workflow", root, optional=True)
    tasks: list[SpecTask] = []
    tasks_node = top.get("tasks", (None, None))[1]
    if tasks_node is None or not isinstance(tasks_node.value, list) or not tasks_node.value:
        check.problem(tasks_node or root, "the workflow needs a non-empty list of tasks")
    else:
        task_names: set[str] = set()
        for task_node in tasks_node.value:
            task = _parse_task(check, task_node, task_names)
            if task is not None:
                tasks.append(task)
    if check.problems:
        raise SpecError(check.problems)
    if not global_timeout:
        # The sum of the actions' timeouts: the longest the actions can take one after another.
        global_timeout = sum(a.timeout for t in tasks for a in t.actions)
        check.warning(
            root,
            f"the workflow has no 'global_timeout'; using {global_timeout} s, the sum of "
            "its actions' timeouts",
        )
    return WorkflowSpec(
        name=name,
        version=version,
        global_timeout=global_timeout,
        tasks=tasks,
        warnings=check.warnings,
    )


def _parse_task(check: _Checker, node: _Node, seen: set[str]) -> SpecTask | None:
    task = check.mapping(node, "a task")
    if task is None:
        return None
    name = check.string(task, "name", "a task", required=True, parent=node)
    where = f"task '{name}'"
    if name in seen:
        check.problem(task["name"][1], f"duplicate task name '{name}'")
    seen.add(name)
    check.unknown_keys(task, TASK_KEYS, where)
    worker = check.string(task, "worker", where, required=True, parent=node)
    volumes = check.string_list(task, "volumes", where)
    environment = check.environment(task, where)
    actions: list[SpecAction] = []
    actions_node = task.get("actions", (None, None))[1]
    if actions_node is None or not isinstance(actions_node.value, list) or not actions_node.value:
        check.problem(actions_node or node, f"{where} needs a non-empty list of actions")
        return None
    action_names: set[str] = set()
    for action_node in actions_node.value:
        action = _parse_action(check, action_node, where, action_names)
        if action is not None:
            # Tinkerbell runs an action with the task's volumes first and the task's environment
            # overridden by the action's own.
            action.volumes = [*volumes, *action.volumes]
            action.environment = {**environment, **action.environment}
            actions.append(action)
    return SpecTask(
        name=name, worker=worker, volumes=volumes, environment=environment, actions=actions
    )


def _parse_action(
    check: _Checker, node: _Node, task_where: str, seen: set[str]
) -> SpecAction | None:
    action = check.mapping(node, f"an action of {task_where}")
    if action is None:
        return None
    name = check.string(action, "name", f"an action of {task_where}", required=True, parent=node)
    where = f"action '{name}'"
    if name in seen:
        check.problem(action["name"][1], f"duplicate action name '{name}' in {task_where}")
    seen.add(name)
    check.unknown_keys(action, ACTION_KEYS, where)
    image = check.string(action, "image", where, required=True, parent=node)
    if image and not IMAGE_REFERENCE.match(image):
        check.problem(action["image"][1], f"{where}: '{image}' is not a valid image reference")
    timeout = check.positive_int(action, "timeout", where, node, optional=True)
    if not timeout:
        timeout = DEFAULT_ACTION_TIMEOUT
        check.warning(node, f"{where} has no 'timeout'; using {DEFAULT_ACTION_TIMEOUT} s")
    pid = check.string(action, "pid", where, required=False, parent=node)
    return SpecAction(
        name=name,
        image=image,
        timeout=timeout,
        # The container's arguments follow its command, as a container runtime joins them.
        command=check.string_list(action, "command", where)
        + check.string_list(action, "args", where),
        environment=check.environment(action, where),
        volumes=check.string_list(action, "volumes", where),
        pid=_namespaces_pid(check, action, where) or pid,
        on_timeout=check.string_list(action, "on-timeout", where),
        on_failure=check.string_list(action, "on-failure", where),
    )


def _namespaces_pid(check: _Checker, action: dict[str, tuple[_Node, _Node]], where: str) -> str:
    """``namespaces.pid``, which wins over ``pid`` as Tinkerbell's server sends it; the network
    namespace is the agent's to choose (Hook's agent runs actions on the host network)."""
    if "namespaces" not in action or action["namespaces"][1].value is None:
        return ""
    namespaces = check.mapping(action["namespaces"][1], f"{where}.namespaces")
    if namespaces is None:
        return ""
    check.unknown_keys(namespaces, NAMESPACE_KEYS, f"{where}.namespaces")
    return check.string(
        namespaces, "pid", f"{where}.namespaces", required=False, parent=action["namespaces"][1]
    )
