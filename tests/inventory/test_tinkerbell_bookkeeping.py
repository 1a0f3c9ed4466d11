"""The importer's bookkeeping inside machine metadata is hidden from the API and kept on edits."""

from __future__ import annotations

import pytest

from inventory.models import TINKERBELL_METADATA_KEY
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db


def test_api_hides_and_preserves_the_import_bookkeeping(api):
    book = {"namespace": "tink-system", "labels": {"rack": "c12"}}
    machine = MachineFactory(
        metadata={"facility": {"facility_code": "fra1"}, TINKERBELL_METADATA_KEY: book}
    )

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
        TINKERBELL_METADATA_KEY: book,
    }
