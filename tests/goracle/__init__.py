"""Go's own text/template and Sprig, as an oracle the Python template engine is diffed against."""

from .oracle import Case, GoResult, Oracle, assert_same, go_oracle, python_result, render_in_go

__all__ = [
    "Case",
    "GoResult",
    "Oracle",
    "assert_same",
    "go_oracle",
    "python_result",
    "render_in_go",
]
