"""Talking to baseboard management controllers: power and boot device, over Redfish or IPMI.

Plain Python without the ORM, so the Celery tasks and the tests can use it directly.
"""
