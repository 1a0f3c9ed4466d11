"""Tinkerbell compatibility: its Hardware, Template and Workflow formats, and the data its
templates see."""
