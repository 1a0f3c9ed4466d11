"""Tinkerbell's agent protocol over gRPC (proto.WorkflowService) for stock tink-agents."""
