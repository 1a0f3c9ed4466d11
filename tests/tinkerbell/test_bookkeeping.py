"""The importer's bookkeeping inside machine metadata is hidden from the API and kept on edits."""

from __future__ import annotations

import pytest

from inventory.metadata_keys import bookkeeping_keys, keep_bookkeeping, visible_metadata
from tests.factories import MachineFactory
from tinkerbell.formats.documents import RESERVED_KEY

pytestmark = pytest.mark.django_db


def test_api_hides_and_preserves_the_import_bookkeeping(api):
    book = {"namespace": "tink-system", "labels": {"rack": "c12"}}
    machine = MachineFactory(metadata={"facility": {"facility_code": "fra1"}, RESERVED_KEY: book})

    shown = api.get(f"/api/v1/machines/{machine.pk}/").json()["metadata"]
    assert shown == {"facility": {"facility_code": "fra1"}}

    response = api.patch(
        f"/api/v1/machines/{machine.pk}/",
        {"metadata": {"facility": {"facility_code": "ams2"}}},
        format="json",
    )
    assert response.status_code == 200
    machine.refresh_from_db()
    assert machine.metadata == {
        "facility": {"facility_code": "ams2"},
        RESERVED_KEY: book,
    }


def test_the_key_is_registered_as_bookkeeping_and_an_edit_naming_it_replaces_it():
    assert RESERVED_KEY in bookkeeping_keys()
    old = {"a": 1, RESERVED_KEY: {"namespace": "x"}}
    assert keep_bookkeeping(old, {"a": 2}) == {"a": 2, RESERVED_KEY: {"namespace": "x"}}
    assert keep_bookkeeping(old, {RESERVED_KEY: {}}) == {RESERVED_KEY: {}}
    assert keep_bookkeeping(old, "not a mapping") == "not a mapping"
    assert visible_metadata(old) == {"a": 1}
