"""A tiny IPMI BMC for tests: power state and boot device kept in memory.

Run as ``python tests/power/ipmi_bmc.py --port 6230 --user admin --password secret``; talk to it
with ``ipmitool -I lanplus -H 127.0.0.1 -p 6230 -U admin -P secret chassis power status``.
Power changes apply at once (a real BMC may take seconds; the Redfish emulator covers that case).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pyghmi.ipmi import bmc
from pyghmi.ipmi import command as ipmicommand

# Completion code from the IPMI spec (chassis control, power cycle): "request parameter(s) not
# supported in present state", which the spec recommends for a cycle while the power is off.
NOT_IN_PRESENT_STATE = 0xD5
# Boot flags byte 1 of parameter 5: bit 7 "valid", bit 6 "persistent" (else next boot only).
FLAG_VALID = 0x80
FLAG_PERSISTENT = 0x40


class MemoryBmc(bmc.Bmc):
    def __init__(self, authdata: dict[str, str], port: int, address: str) -> None:
        super().__init__(authdata, port=port, address=address)
        self.powered = False
        self.boot_device = "default"
        self.boot_persistent = False

    def get_power_state(self) -> str:
        return "on" if self.powered else "off"

    def power_on(self) -> None:
        self.powered = True

    def power_off(self) -> None:
        self.powered = False

    def power_shutdown(self) -> None:
        # A soft (ACPI) shutdown: the guest is assumed to comply straight away.
        self.powered = False

    def power_cycle(self) -> int | None:
        if not self.powered:
            return NOT_IN_PRESENT_STATE
        return None

    def power_reset(self) -> None:
        self.powered = True

    def get_boot_device(self) -> str:
        return self.boot_device

    def get_system_boot_options(self, request: dict[str, Any], session: Any) -> None:
        # pyghmi's default answer never says "persistent"; report what was set.
        if request["data"][0] != 5:
            session.send_ipmi_response(code=0x80)
            return
        flags = FLAG_VALID | (FLAG_PERSISTENT if self.boot_persistent else 0)
        device = ipmicommand.boot_devices.get(self.boot_device, 0)
        session.send_ipmi_response(data=[1, 5, flags, device, 0, 0, 0])

    def set_system_boot_options(self, request: dict[str, Any], session: Any) -> None:
        data = request["data"]
        if data[0] == 5:
            # pyghmi's default drops the persistent bit: remember it before it forwards.
            self.boot_persistent = bool(data[1] & FLAG_PERSISTENT)
        super().set_system_boot_options(request, session)

    def set_boot_device(self, bootdevice: str) -> None:
        self.boot_device = bootdevice


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=623)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="password")
    args = parser.parse_args(argv)
    server = MemoryBmc({args.user: args.password}, port=args.port, address=args.address)
    print(f"listening on {args.address}:{args.port}", flush=True)
    server.listen()
    return 0


if __name__ == "__main__":
    sys.exit(main())
