"""The id of the request being served, so events can be traced back to it."""

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("rackpilot_request_id", default="")
