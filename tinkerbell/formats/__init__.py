"""Tinkerbell documents (``tinkerbell.org/v1alpha1``) in and out of the inventory.

``import_documents`` reads multi-document YAML the way ``kubectl apply -f`` would accept it,
checks every document before writing anything, then applies all of them in one transaction.
Each kind has a handler in ``KINDS``; ``Hardware`` is the first, and later kinds (``Template``,
``Workflow``) register theirs with ``register_kind``.

- ``documents``: the kind registry, YAML in and out, ``import_documents`` and the field reader.
- ``hardware``: Hardware documents into the inventory (how their fields map to columns), and
  the ``Hardware`` kind, registered when this package is imported.
- ``hardware_export``: machines out as Hardware documents (what differs from the imported one).
- ``references``: Secrets and ConfigMaps of the same import, read by Hardware references.
- ``bmc_machines``: Rufio's BMC ``Machine`` documents into machines' BMCs.
- ``workflow_kinds`` / ``boot_options``: Template and Workflow documents.
- ``workflow_export``: a workflow out as a Workflow document with its status.
"""

# Importing these registers the kinds other documents read: Secret, ConfigMap, Rufio's Machine.
from tinkerbell.formats import bmc_machines as bmc_machines
from tinkerbell.formats import references as references
from tinkerbell.formats.documents import (
    API_VERSION,
    KINDS,
    KNOWN_KEYS,
    LAST_APPLIED,
    RESERVED_KEY,
    SERVER_FIELDS,
    TYPE_NAMES,
    Document,
    DocumentProblems,
    ImportContext,
    ImportedObject,
    ImportResult,
    KindHandler,
    Step,
    TinkerbellImportError,
    dump_documents,
    import_documents,
    parse_documents,
    register_kind,
)

# Importing ``hardware`` registers the Hardware kind in ``KINDS``.
from tinkerbell.formats.hardware import (
    DEFAULT_ARCH,
    DEFAULT_LEASE_TIME,
    NIC_PATHS,
    HardwareKind,
)
from tinkerbell.formats.hardware_export import (
    export_documents,
    hardware_document,
    hardware_export_queryset,
)
from tinkerbell.formats.workflow_kinds import TemplateKind, WorkflowKind

__all__ = [
    "API_VERSION",
    "DEFAULT_ARCH",
    "DEFAULT_LEASE_TIME",
    "KINDS",
    "KNOWN_KEYS",
    "LAST_APPLIED",
    "NIC_PATHS",
    "RESERVED_KEY",
    "SERVER_FIELDS",
    "TYPE_NAMES",
    "Document",
    "DocumentProblems",
    "HardwareKind",
    "ImportContext",
    "ImportResult",
    "ImportedObject",
    "KindHandler",
    "Step",
    "TemplateKind",
    "TinkerbellImportError",
    "WorkflowKind",
    "dump_documents",
    "export_documents",
    "hardware_document",
    "hardware_export_queryset",
    "import_documents",
    "parse_documents",
    "register_kind",
]
