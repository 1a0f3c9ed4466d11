"""Hook build recipes (LinuxKit YAML), builds, the image builder and its artifacts."""
