"""Templates, workflows, tasks and actions; the engine and the agent protocol (server side)."""
