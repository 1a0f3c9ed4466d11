"""Writes of the workflows app; import from the topic modules."""
