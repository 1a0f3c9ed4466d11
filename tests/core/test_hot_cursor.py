"""Hot hand-written statements through ``hot_cursor``: prepared once per PostgreSQL connection
(DB_PREPARED_STATEMENTS), with the same rows as unprepared, still logged and counted as any
query; on SQLite Django's own cursor."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from netboot.selectors import boot_interface_by_mac, default_build
from tests.netboot.conftest import make_default_build, make_machine, with_work

pytestmark = pytest.mark.django_db

MAC = "52:54:00:0c:00:01"


def boot_fields() -> tuple[object, ...]:
    boot = boot_interface_by_mac(MAC)
    assert boot is not None
    machine = boot.machine
    return (
        boot.workflow_id,
        machine.hostname,
        machine.arch,
        machine.allow_pxe,
        machine.metadata,
        machine.rack.site.facility_code if machine.rack_id else None,
        boot.interface.ip,
    )


def prepared_boot_statements() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements "
            "WHERE statement LIKE %s AND statement LIKE %s",
            ["%inventory_networkinterface%", "%WHERE i.mac = $%"],
        )
        return int(cursor.fetchone()[0])


def test_prepared_or_not_the_rows_are_the_same(settings) -> None:
    make_default_build()
    with_work(make_machine(mac=MAC, ip="10.12.0.2"))
    settings.DB_PREPARED_STATEMENTS = False
    unprepared, build = boot_fields(), default_build("x86_64")
    settings.DB_PREPARED_STATEMENTS = True
    assert boot_fields() == unprepared
    assert boot_fields() == unprepared  # the second run executes the prepared statement
    assert default_build("x86_64") == build
    assert unprepared[0] is not None  # the workflow came back, not just the machine


@pytest.mark.parametrize("prepared", [True, False])
def test_a_hot_statement_is_prepared_once_per_connection_and_still_counted(
    settings, prepared: bool
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's; SQLite runs Django's own cursor")
    settings.DB_PREPARED_STATEMENTS = prepared
    make_machine(mac=MAC, ip="10.12.0.3")
    before = prepared_boot_statements()
    with CaptureQueriesContext(connection) as queries:
        boot_fields()
        boot_fields()
    assert len(queries) == 2
    assert all("inventory_networkinterface" in query["sql"] for query in queries)
    assert prepared_boot_statements() == before + (1 if prepared else 0)
