"""Django admin classes whose every add, change and delete goes through a service function.

The admin normally writes with ``form.save()`` and ``obj.delete()``, which would skip the
services' events, locks and validation. Here each admin class names its services and the
mixins call them instead::

    @admin.register(Rack)
    class RackAdmin(ServiceModelAdmin):
        create_service = services.rack_create
        update_service = services.rack_update
        delete_service = services.rack_delete
        instance_kwarg = "rack"
        service_fields = services.RACK_FIELDS

Inline models (a machine's interfaces) use :class:`ServiceInlineMixin` and name the keyword
their create service takes the parent by (``parent_kwarg = "machine"``).

A service may refuse a save that passed form validation (a rack position another machine
took, a MAC address another interface claimed). The admin runs the whole save in one
transaction; on refusal it rolls everything back and renders the same submission again with
the refusal attached to the form it concerns, so the operator sees an ordinary form error.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.db import models, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.text import capfirst

from rackpilot.core.actors import Actor

# Refusals collected while saving, keyed by the prefix of the form they belong to ("" for
# the main form; an inline formset's own prefix for errors about the formset as a whole).
_ERRORS_ATTR = "_rackpilot_admin_service_errors"


class ServiceRejected(Exception):
    """A service refused part of an admin save; the transaction must be rolled back."""


def pending_service_errors(request: HttpRequest) -> dict[str, ValidationError]:
    errors: dict[str, ValidationError] | None = getattr(request, _ERRORS_ATTR, None)
    if errors is None:
        errors = {}
        setattr(request, _ERRORS_ATTR, errors)
    return errors


def _reject(request: HttpRequest, key: str, error: ValidationError) -> ServiceRejected:
    pending_service_errors(request)[key] = error
    return ServiceRejected("; ".join(error.messages))


def _field_label(form: forms.BaseForm, field: str) -> str:
    model = getattr(getattr(form, "_meta", None), "model", None)
    try:
        return str(capfirst(model._meta.get_field(field).verbose_name)) if model else field
    except FieldDoesNotExist:
        return field


def attach_service_error(form: forms.BaseForm, error: ValidationError) -> None:
    """Put a service's ValidationError on ``form``: on the field it names when the form
    shows that field, otherwise on top of the form with the field's name in front."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        if field != NON_FIELD_ERRORS and field in form.fields:
            form.add_error(field, errors)
            continue
        prefix = "" if field == NON_FIELD_ERRORS else f"{_field_label(form, field)}: "
        form.add_error(None, [f"{prefix}{message}" for e in errors for message in e.messages])


class ServiceModelForm(forms.ModelForm):
    """Admin form that shows the services' refusals of a previous attempt as its own errors.

    Subclasses adjust what is passed to the service in :meth:`service_values` (e.g. add a
    value that is not a model field, such as a BMC's new password).
    """

    service_errors: ClassVar[Mapping[str, ValidationError]] = {}

    def _post_clean(self) -> None:
        # The hook where Django runs model validation: a refusal lands with the others.
        super()._post_clean()  # type: ignore[misc]
        error = self.service_errors.get(self.prefix or "")
        if error is not None:
            attach_service_error(self, error)

    def service_values(self, values: dict[str, Any]) -> dict[str, Any]:
        return values


class ServiceInlineFormSet(forms.BaseInlineFormSet):
    """Inline formset that shows refusals about forms being deleted (a deleted form's own
    errors are never displayed, so they go on the formset)."""

    service_errors: ClassVar[Mapping[str, ValidationError]] = {}
    service_inline: ClassVar[ServiceBindings | None] = None

    def clean(self) -> None:
        super().clean()
        error = self.service_errors.get(self.prefix or "")
        if error is not None:
            raise ValidationError(error.messages)


class ServiceBindings:
    """Which service functions write a model, and how the admin calls them.

    ``create_service(actor=..., [<parent_kwarg>=parent,] **values)``,
    ``update_service(<instance_kwarg>=obj, actor=..., **values)`` and
    ``delete_service(<instance_kwarg>=obj, actor=...)``. ``service_fields`` are the form
    fields passed as values (the services' own allow-lists, plus e.g. ``tags``).
    """

    create_service: ClassVar[Callable[..., Any] | None] = None
    update_service: ClassVar[Callable[..., Any] | None] = None
    delete_service: ClassVar[Callable[..., Any] | None] = None
    instance_kwarg: ClassVar[str] = ""
    parent_kwarg: ClassVar[str | None] = None
    service_fields: ClassVar[Collection[str]] = ()

    def _service(self, name: str) -> Callable[..., Any]:
        # Read through the class: a function stored as a class attribute would otherwise
        # be bound to the admin instance and receive it as a positional argument.
        func = getattr(type(self), name)
        if func is None:
            raise NotImplementedError(f"{type(self).__name__}.{name} is not set")
        return func  # type: ignore[no-any-return]

    def service_actor(self, request: HttpRequest) -> Actor:
        return Actor.for_user(request.user)

    def service_values(self, form: forms.BaseForm) -> dict[str, Any]:
        data = form.cleaned_data
        values = {name: data[name] for name in self.service_fields if name in data}
        if isinstance(form, ServiceModelForm):
            values = form.service_values(values)
        return values

    def service_create(
        self, request: HttpRequest, form: forms.BaseForm, *, parent: models.Model | None = None
    ) -> models.Model:
        kwargs = self.service_values(form)
        if self.parent_kwarg:
            kwargs[self.parent_kwarg] = parent
        saved: models.Model = self._service("create_service")(
            actor=self.service_actor(request), **kwargs
        )
        return saved

    def service_update(
        self, request: HttpRequest, form: forms.BaseForm, instance: models.Model
    ) -> models.Model:
        saved: models.Model = self._service("update_service")(
            actor=self.service_actor(request),
            **{self.instance_kwarg: instance},
            **self.service_values(form),
        )
        return saved

    def service_delete(self, request: HttpRequest, instance: models.Model) -> None:
        self._service("delete_service")(
            actor=self.service_actor(request), **{self.instance_kwarg: instance}
        )


def _adopt(target: models.Model, saved: models.Model) -> None:
    """Make the admin's unsaved form instance the row the service saved (pk included), so
    inlines, the history log and the redirect after "Save" refer to it."""
    for field in saved._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


def delete_selected_through_services(
    modeladmin: ServiceModelAdmin, request: HttpRequest, queryset: models.QuerySet[Any]
) -> HttpResponse | None:
    """Django's "delete selected" action, all or nothing: one refusal deletes none."""
    try:
        with transaction.atomic(using=queryset.db):
            return delete_selected(modeladmin, request, queryset)
    except ServiceRejected as exc:
        modeladmin.message_user(request, f"Nothing was deleted. {exc}", messages.ERROR)
        return None


class ServiceModelAdmin(ServiceBindings, admin.ModelAdmin):
    """ModelAdmin whose saves, deletes and bulk deletes call the configured services.

    With ``parent_kwarg`` set (a disk's ``machine``), the parent is chosen on the add page and
    shown read-only afterwards: the services do not move children between parents.
    """

    form = ServiceModelForm

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if issubclass(form_class, ServiceModelForm):
            # modelform_factory made a fresh class for this request: safe to annotate.
            form_class.service_errors = pending_service_errors(request)
        return form_class

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and self.parent_kwarg and self.parent_kwarg not in readonly:
            readonly.append(self.parent_kwarg)
        return readonly

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRejected:
            # Everything from the first attempt was rolled back with the admin's
            # transaction. The same submission is validated again; this time the forms
            # carry the services' refusals, so Django renders them as form errors.
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            if change:
                saved = self.service_update(request, form, obj)
            else:
                parent = form.cleaned_data.get(self.parent_kwarg) if self.parent_kwarg else None
                saved = self.service_create(request, form, parent=parent)
        except ValidationError as exc:
            raise _reject(request, form.prefix or "", exc) from exc
        _adopt(obj, saved)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # No form.save_m2m(): many-to-many fields are service values (e.g. machine tags).
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        inline = formset.service_inline if isinstance(formset, ServiceInlineFormSet) else None
        if inline is None:
            raise TypeError(
                f"{type(self).__name__}: inline for {formset.model.__name__} must use "
                "ServiceInlineMixin so that its writes go through services"
            )
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        deleted = formset.deleted_forms
        # Deletions first: a MAC address or device freed by one row can be reused by another.
        for inline_form in deleted:
            if inline_form.instance.pk is None:
                continue
            try:
                inline.service_delete(request, inline_form.instance)
            except ValidationError as exc:
                raise _reject(request, formset.prefix, exc) from exc
            formset.deleted_objects.append(inline_form.instance)
        for inline_form in formset.initial_forms:
            if inline_form in deleted or not inline_form.has_changed():
                continue
            try:
                saved = inline.service_update(request, inline_form, inline_form.instance)
            except ValidationError as exc:
                raise _reject(request, inline_form.prefix, exc) from exc
            formset.changed_objects.append((saved, inline_form.changed_data))
        for inline_form in formset.extra_forms:
            if inline_form in deleted or not inline_form.has_changed():
                continue
            try:
                saved = inline.service_create(request, inline_form, parent=form.instance)
            except ValidationError as exc:
                raise _reject(request, inline_form.prefix, exc) from exc
            formset.new_objects.append(saved)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        try:
            self.service_delete(request, obj)
        except ValidationError as exc:
            raise ServiceRejected(f"{obj}: {' '.join(exc.messages)}") from exc

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceRejected as exc:
            self.message_user(request, f"Not deleted. {exc}", messages.ERROR)
            opts = self.model._meta
            return HttpResponseRedirect(
                reverse(
                    f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                    args=[object_id],
                )
            )

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = dict(super().get_actions(request))
        if "delete_selected" in actions:
            _, name, description = actions["delete_selected"]
            actions["delete_selected"] = (delete_selected_through_services, name, description)
        return actions


class ServiceInlineMixin(ServiceBindings):
    """For ``TabularInline`` / ``StackedInline`` classes of a :class:`ServiceModelAdmin`."""

    form: Any = ServiceModelForm
    formset: Any = ServiceInlineFormSet

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset_class = super().get_formset(request, obj, **kwargs)  # type: ignore[misc]
        errors = pending_service_errors(request)
        # inlineformset_factory made fresh formset and form classes for this request.
        formset_class.service_errors = errors
        formset_class.service_inline = self
        formset_class.form.service_errors = errors
        return formset_class
