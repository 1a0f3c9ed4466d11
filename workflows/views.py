"""Dashboard pages of the workflows app: templates, workflows, and starting them on machines.

Thin views: reads through selectors and filtersets, every write through a service. Service
refusals come back as form errors (forms) or flash messages (buttons).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, Max, OuterRef
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from inventory import selectors as inventory_selectors
from inventory.models import Site
from inventory.selection import bulk_page
from rackpilot.core import access
from rackpilot.core.access import requires
from rackpilot.core.actors import Actor
from rackpilot.core.api.errors import ConflictError
from rackpilot.core.code_listing import numbered_lines, problem_excerpt
from rackpilot.core.forms import add_service_errors, parse_problems, save_through_service
from rackpilot.core.listing import list_page
from rackpilot.core.pages import form_status, run_page_command
from workflows import filtersets, selectors
from workflows.forms import (
    TemplateForm,
    WorkflowBulkForm,
    WorkflowCancelForm,
    WorkflowStartForm,
    hardware_map_text,
)
from workflows.list_columns import WORKFLOW_COLUMNS, workflow_list_rows
from workflows.models import Template, Workflow
from workflows.services import engine
from workflows.services import templates as template_services
from workflows.states import (
    WORKFLOW_FINISHED,
    WORKFLOW_RETRYABLE,
    WORKFLOW_UNFINISHED,
    WorkflowState,
)
from workflows.timeline import build_timeline

RECENT_WORKFLOWS = 10
# Lines shown around a problem in an excerpt of a template body.
# The bulk page lists the machines it would start on; beyond this it only counts them.
BULK_LIST_LIMIT = 200

TEMPLATE_ORDERINGS = {
    "name": ("name",),
    "workflows": ("workflow_count", "name"),
    "last_used": ("last_used",),
    "updated": ("updated_at",),
}
WORKFLOW_ORDERINGS = {
    "id": ("id",),
    "state": ("state", "created_at"),
    "machine": ("machine__hostname", "created_at"),
    "template": ("template__name", "created_at"),
    "created": ("created_at",),
    "started": ("started_at",),
    "finished": ("finished_at",),
}


def _body_context(body: str, messages_: Iterable[str]) -> dict[str, Any]:
    """Problems of a template body, located on its lines, for the editor and the excerpt."""
    problems, unlocated = parse_problems(messages_)
    problem_lines = {problem.line for problem in problems}
    lines = numbered_lines(body, problems)
    return {
        "problems": problems,
        "unlocated_problems": unlocated,
        "lines": lines,
        "excerpt": problem_excerpt(lines) if problems else [],
        # The editor's gutter numbers every line of the textarea, the empty one after a final
        # newline included (that is where the cursor goes); workflows.js counts the same way.
        "gutter": [(number, number in problem_lines) for number in range(1, body.count("\n") + 2)],
        "error_lines": sorted(problem_lines),
    }


def _field_errors(form: forms.Form, name: str) -> list[str]:
    return [str(message) for message in form.errors.get(name, [])]


# --- templates -------------------------------------------------------------------------------


@requires("workflows.view_template")
def template_list(request: HttpRequest) -> HttpResponse:
    templates = (
        selectors.template_list()
        .defer("body")
        .annotate(workflow_count=Count("workflows"), last_used=Max("workflows__created_at"))
    )
    filterset = filtersets.TemplateFilterSet(request.GET, queryset=templates)
    return list_page(
        request,
        filterset=filterset,
        orderings=TEMPLATE_ORDERINGS,
        template="workflows/template_list.html",
        partial="workflows/partials/template_table.html",
    )


@requires("workflows.view_template")
def template_detail(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(Template.objects.select_related("created_by"), pk=pk)
    workflows = selectors.workflow_list().filter(template=template)
    context = {
        "template": template,
        "lines": numbered_lines(template.body),
        "recent_workflows": workflows[:RECENT_WORKFLOWS],
        "workflow_count": workflows.count(),
    }
    return render(request, "workflows/template_detail.html", context)


def _template_form_page(
    request: HttpRequest, form: TemplateForm, template: Template | None
) -> HttpResponse:
    form.mark_invalid()
    body = form["body"].value() or ""
    problems = _body_context(body, _field_errors(form, "body"))
    context = {"form": form, "template": template, **problems}
    return render(request, "workflows/template_form.html", context, status=form_status(form))


@requires("workflows.add_template")
def template_create(request: HttpRequest) -> HttpResponse:
    form = TemplateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        template = save_through_service(request, form, template_services.template_create)
        if template is not None:
            messages.success(request, f"Template {template.name} created.")
            return redirect("workflows-ui:template-detail", pk=template.pk)
    return _template_form_page(request, form, template=None)


@requires("workflows.change_template")
def template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(Template, pk=pk)
    initial = {"name": template.name, "description": template.description, "body": template.body}
    form = TemplateForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST":

        def update(**values: Any) -> Template:
            return template_services.template_update(template=template, **values)

        saved = save_through_service(request, form, update)
        if saved is not None:
            messages.success(
                request,
                f"Template {saved.name} saved. Existing workflows keep the body they were "
                "created with.",
            )
            return redirect("workflows-ui:template-detail", pk=saved.pk)
    return _template_form_page(request, form, template=template)


@requires("workflows.delete_template")
def template_delete(request: HttpRequest, pk: int) -> HttpResponse:
    template = get_object_or_404(Template, pk=pk)
    if request.method == "POST":
        try:
            template_services.template_delete(template=template, actor=Actor.for_user(request.user))
        except ValidationError as exc:
            messages.error(request, f"Template not deleted: {' '.join(exc.messages)}")
            return redirect("workflows-ui:template-detail", pk=pk)
        messages.success(request, f"Template {template.name} deleted.")
        return redirect("workflows-ui:template-list")
    context = {"template": template, "workflow_count": template.workflows.count()}
    return render(request, "workflows/template_confirm_delete.html", context)


# --- workflows -------------------------------------------------------------------------------


@requires("workflows.view_workflow")
def workflow_list(request: HttpRequest) -> HttpResponse:
    filterset = filtersets.WorkflowFilterSet(request.GET, queryset=workflow_list_rows())
    # Choices for the filter form; lazy, so table-only (HTMX) responses never query them.
    extra = {
        "states": WorkflowState.choices,
        "templates": Template.objects.only("name").order_by("name"),
        "sites": Site.objects.only("name", "slug"),
    }
    return list_page(
        request,
        filterset=filterset,
        orderings=WORKFLOW_ORDERINGS,
        template="workflows/workflow_list.html",
        partial="workflows/partials/workflow_table.html",
        extra=extra,
        columns=WORKFLOW_COLUMNS,
        export="workflows-ui:workflow-list-export",
    )


def _workflow_context(workflow: Workflow) -> dict[str, Any]:
    tasks = workflow.tasks.all()
    return {
        "workflow": workflow,
        "tasks": tasks,
        "timeline": build_timeline(tasks, now=timezone.now()),
        "failure": workflow.failure_reason if workflow.state in WORKFLOW_RETRYABLE else None,
        "can_cancel": workflow.state in WORKFLOW_UNFINISHED,
        "can_retry": workflow.state in WORKFLOW_RETRYABLE,
        "can_rerun": workflow.state in WORKFLOW_FINISHED,
        # HTMX polls the live parts of the page until the workflow is over.
        "polling": workflow.state not in WORKFLOW_FINISHED,
    }


def _workflow_for_page(pk: int) -> Workflow:
    return get_object_or_404(
        selectors.workflow_detail().select_related("created_by", "machine__rack__site"), pk=pk
    )


@requires("workflows.view_workflow")
def workflow_detail(request: HttpRequest, pk: int) -> HttpResponse:
    context = _workflow_context(_workflow_for_page(pk))
    return render(request, "workflows/workflow_detail.html", context)


@requires("workflows.view_workflow")
def workflow_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The polled parts of the detail page: tasks, plus state, buttons and timing out of band."""
    context = {**_workflow_context(_workflow_for_page(pk)), "oob": True}
    return render(request, "workflows/partials/workflow_live.html", context)


def _run_command(
    request: HttpRequest, workflow: Workflow, verb: str, command: Callable[[], Workflow]
) -> HttpResponse:
    """Run an operator command; a refusal is shown on the workflow's page, not as an error page."""
    result = run_page_command(request, f"Workflow #{workflow.pk}", verb, command)
    if result is None:
        return redirect("workflows-ui:workflow-detail", pk=workflow.pk)
    if result.pk == workflow.pk:
        messages.success(request, f"Workflow #{workflow.pk} {verb}.")
    else:
        messages.success(request, f"Workflow #{workflow.pk} {verb} as #{result.pk}.")
    return redirect("workflows-ui:workflow-detail", pk=result.pk)


@require_POST
@requires(access.RUN_WORKFLOW)
def workflow_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = get_object_or_404(Workflow, pk=pk)
    form = WorkflowCancelForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    actor = Actor.for_user(request.user)
    return _run_command(
        request,
        workflow,
        "cancelled",
        lambda: engine.workflow_cancel(workflow=workflow, actor=actor, reason=reason),
    )


@require_POST
@requires(access.RUN_WORKFLOW)
def workflow_retry(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = get_object_or_404(Workflow, pk=pk)
    actor = Actor.for_user(request.user)
    return _run_command(
        request, workflow, "retried", lambda: engine.workflow_retry(workflow=workflow, actor=actor)
    )


@require_POST
@requires(access.RUN_WORKFLOW)
def workflow_rerun(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = get_object_or_404(Workflow.objects.select_related("template", "machine"), pk=pk)
    actor = Actor.for_user(request.user)
    return _run_command(
        request, workflow, "re-run", lambda: engine.workflow_rerun(workflow=workflow, actor=actor)
    )


# --- starting workflows ----------------------------------------------------------------------


@requires(access.RUN_WORKFLOW)
def workflow_start(request: HttpRequest, machine_pk: int) -> HttpResponse:
    machine = get_object_or_404(inventory_selectors.machine_list(), pk=machine_pk)
    initial = {"hardware_map": hardware_map_text(engine.default_hardware_map(machine))}
    form = WorkflowStartForm(request.POST if request.method == "POST" else None, initial=initial)
    chosen: Template | None = None
    if request.method == "POST" and form.is_valid():
        chosen = form.cleaned_data["template"]
        try:
            workflow = engine.workflow_create(
                template=chosen,
                machine=machine,
                actor=Actor.for_user(request.user),
                # Nothing given: the service maps device_1 to the boot interface itself.
                hardware_map=form.cleaned_data["hardware_map"] or None,
                disable_pxe_on_success=form.cleaned_data["disable_pxe_on_success"],
                boot_into_pxe=form.cleaned_data["boot_into_pxe"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        except ConflictError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                f"Workflow #{workflow.pk} created on {machine.hostname}: it starts when "
                "the machine's agent asks for work.",
            )
            return redirect("workflows-ui:workflow-detail", pk=workflow.pk)
    form.mark_invalid()
    # Render errors point into the template body: show them there.
    template_errors = _field_errors(form, "template")
    render_problems = _body_context(chosen.body, template_errors) if chosen else {}
    context = {
        "machine": machine,
        "form": form,
        # Hints shown before submitting; the service makes the decision either way.
        "unfinished": Workflow.objects.filter(
            machine=machine, state__in=WORKFLOW_UNFINISHED
        ).first(),
        "startable_state": machine.state in engine.STARTABLE_MACHINE_STATES,
        "chosen_template": chosen,
        "render": render_problems,
    }
    return render(request, "workflows/workflow_start.html", context, status=form_status(form))


@requires(access.RUN_WORKFLOW)
def workflow_bulk(request: HttpRequest) -> HttpResponse:
    """A template started on every machine the filter selects, once the operator confirmed
    the listed selection (its digest comes back with the form)."""
    page = bulk_page(request)
    if page.selection is None:
        return render(request, "workflows/workflow_bulk.html", page.context, status=400)
    selection = page.selection
    form = WorkflowBulkForm(request.POST if page.posted else None)
    if page.may_run(form):
        result = engine.workflow_bulk_create(
            template=form.cleaned_data["template"],
            machines=selection.machines(),
            actor=Actor.for_user(request.user),
            skip_refused=form.cleaned_data["skip_refused"],
            disable_pxe_on_success=form.cleaned_data["disable_pxe_on_success"],
            boot_into_pxe=form.cleaned_data["boot_into_pxe"],
        )
        page.context.update(result=result, template=form.cleaned_data["template"], form=form)
        return render(request, "workflows/workflow_bulk_result.html", page.context)
    form.mark_invalid()
    busy = Workflow.objects.filter(machine=OuterRef("pk"), state__in=WORKFLOW_UNFINISHED)
    machines = (
        inventory_selectors.machine_list()
        .filter(pk__in=selection.ids)
        .annotate(busy=Exists(busy))
        .order_by("hostname", "pk")
    )
    page.show(form, machines, count=selection.count, limit=BULK_LIST_LIMIT)
    return render(request, "workflows/workflow_bulk.html", page.context, status=page.status(form))
