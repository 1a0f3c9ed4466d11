"""rackpilot-agent: runs Rackpilot workflow actions as containers inside Hook."""

__version__ = "0.1.0"
