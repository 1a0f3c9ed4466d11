"""CSV exports of the inventory's list pages: the list's filter, every row it selects."""

from __future__ import annotations

from inventory import selectors
from inventory.filtersets import MachineFilterSet, PowerJobFilterSet
from inventory.list_columns import (
    MACHINE_COLUMNS,
    MACHINE_EXPORT_DEFER,
    POWER_JOB_COLUMNS,
    power_job_rows,
)
from inventory.power.views import POWER_JOB_ORDERINGS
from inventory.views import MACHINE_ORDERINGS
from rackpilot.core.listing import export_view

machine_list_export = export_view(
    permission="inventory.view_machine",
    filterset=MachineFilterSet,
    rows=lambda: selectors.machine_list().defer(*MACHINE_EXPORT_DEFER),
    orderings=MACHINE_ORDERINGS,
    columns=MACHINE_COLUMNS,
    name="machines",
)
power_job_list_export = export_view(
    permission="inventory.view_powerjob",
    filterset=PowerJobFilterSet,
    rows=power_job_rows,
    orderings=POWER_JOB_ORDERINGS,
    columns=POWER_JOB_COLUMNS,
    name="power-jobs",
)
