"""The request and answer shapes of a bulk command's machine selection (see
``inventory.selection``): ``filter`` and ``all`` choose, ``selection`` confirms."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from inventory.selection import MachineSelection, SelectionError, machine_selection


class MachineSelectionSerializer(serializers.Serializer):
    filter = serializers.DictField(
        required=False,
        default=dict,
        help_text='Machine filters, as for GET /api/v1/machines/ (e.g. {"rack": "R07"}); an '
        "unknown key, an empty list or a blank value is an error, and an empty filter selects "
        "nothing.",
    )
    all = serializers.BooleanField(
        required=False, default=False, help_text="Select every machine (with no filter)."
    )
    selection = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=64,
        help_text="The selection digest a preview answered: the command runs only if the "
        "filter still selects exactly those machines (409 selection_changed otherwise).",
    )


class SelectedMachineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    hostname = serializers.CharField()


class MachineSelectionResultSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    selection = serializers.CharField(help_text="Send it back with the command to confirm.")
    machines = SelectedMachineSerializer(many=True)


def selection_from_body(data: dict[str, Any]) -> MachineSelection:
    """Evaluate the body's selection; a 400 naming each unusable key, a 409 if it changed."""
    try:
        selection = machine_selection(filters=data["filter"], select_all=data["all"])
    except SelectionError as exc:
        errors: dict[str, Any] = {}
        if "all" in exc.errors:
            errors["all"] = exc.errors.pop("all")
        if exc.errors:
            # The empty-filter refusal is about the filter as a whole; others name their key.
            whole = list(exc.errors) == ["filter"]
            errors["filter"] = exc.errors["filter"] if whole else exc.errors
        raise ValidationError(errors) from exc
    selection.check(data.get("selection"))
    return selection


def selection_answer(selection: MachineSelection) -> dict[str, Any]:
    machines = selection.machines().values("id", "hostname")
    return {"count": selection.count, "selection": selection.digest, "machines": list(machines)}
