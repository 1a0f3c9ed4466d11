"""Syslog intake: action output that HookOS's dockerd sends by syslog, stored as log lines."""
