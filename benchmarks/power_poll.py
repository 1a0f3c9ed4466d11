"""BMC power-state polling: how many BMCs one worker can keep an eye on.

    .venv/bin/python benchmarks/power_poll.py [--systems 32] [--seconds 10] [--threads 1 4]

Beat asks for every BMC's power state every POWER_POLL_SECONDS (60 by default), one Celery task
per BMC. This starts `sushy-emulator --fake` with `--systems` Redfish systems on loopback and the
IPMI test BMC (tests/power/ipmi_bmc.py), then for `--seconds` each, at each `--threads` count:

- **redfish driver**: `driver_for(access).power_state()` for the systems in turn, a new driver
  per poll as the poll task makes one (sushy reads the service root, then the system);
- **reference**: a bare `requests.get` of the same system resource with the same credentials,
  in the same run — the least any Redfish client must do to learn the state;
- **ipmi driver**: `power_state()` through `ipmitool` (a process per poll) against the IPMI BMC.

Printed: polls/s, the ratio driver/reference, and how many BMCs that rate covers at a 60 s
poll interval. The emulator is a single-threaded Flask server, so the reference is what it can
answer, not what a datacenter's BMCs can; the ratio is the meaningful figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from inventory.power.drivers import BmcAccess, driver_for  # noqa: E402
from tests.power import conftest as bmcs  # noqa: E402

POLL_INTERVAL = 60


def rate(poll: Callable[[int], object], count: int, seconds: float, threads: int) -> float:
    """Polls per second over ``seconds`` with ``threads`` pollers taking targets in turn."""
    done = [0] * threads
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        target = index
        while time.monotonic() < stop:
            poll(target % count)
            done[index] += 1
            target += threads

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rackpilot-bench-power-") as scratch:
        systems = {f"bench-{i:04d}": "On" if i % 2 else "Off" for i in range(args.systems)}
        emulator = bmcs.start_redfish_emulator(Path(scratch) / "redfish", systems)
        accesses = [emulator.access(system_id) for system_id in systems]
        ipmi_process, ipmi_access = start_ipmi_bmc(Path(scratch) / "ipmi")
        try:
            session = requests.Session()

            def reference(index: int) -> object:
                url = f"{emulator.url}/redfish/v1/Systems/{accesses[index].redfish_system_id}"
                response = session.get(url, auth=(bmcs.USERNAME, bmcs.PASSWORD), timeout=10)
                response.raise_for_status()
                return response.json()["PowerState"]

            def redfish(index: int) -> object:
                return driver_for(accesses[index], timeout=10).power_state()

            def ipmi(index: int) -> object:
                return driver_for(ipmi_access, timeout=10).power_state()

            assert redfish(1) == "on" and redfish(0) == "off", "the driver must read the states"
            print(
                f"systems={args.systems} seconds={args.seconds} threads={args.threads} "
                f"poll interval={POLL_INTERVAL} s"
            )
            for threads in args.threads:
                ref = rate(reference, len(accesses), args.seconds, threads)
                drv = rate(redfish, len(accesses), args.seconds, threads)
                ipm = rate(ipmi, 1, args.seconds, threads)
                print(f"threads={threads}:")
                print(f"  reference GET   {ref:8.1f} polls/s")
                print(
                    f"  redfish driver  {drv:8.1f} polls/s  ratio {drv / ref:.2f}  "
                    f"covers {int(drv * POLL_INTERVAL):,} BMCs per {POLL_INTERVAL} s"
                )
                print(
                    f"  ipmi driver     {ipm:8.1f} polls/s  "
                    f"covers {int(ipm * POLL_INTERVAL):,} BMCs per {POLL_INTERVAL} s"
                )
        finally:
            bmcs.stop(emulator.process)
            bmcs.stop(ipmi_process)
    print("command:", " ".join([sys.executable, *sys.argv]))
    return 0


def start_ipmi_bmc(workdir: Path) -> tuple[object, BmcAccess]:
    """The test suite's IPMI BMC on a free UDP port, as its fixture starts it."""
    import socket
    import subprocess

    workdir.mkdir(parents=True)
    log_path = workdir / "bmc.log"
    port = bmcs.free_port(socket.SOCK_DGRAM)
    command = [sys.executable, str(bmcs.IPMI_BMC_SCRIPT), "--port", str(port)]
    command += ["--address", bmcs.HOST, "--user", bmcs.USERNAME, "--password", bmcs.PASSWORD]
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while f"listening on {bmcs.HOST}:{port}" not in log_path.read_text(errors="replace"):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"the IPMI BMC did not start:\n{log_path.read_text()}")
        time.sleep(0.05)
    access = BmcAccess(
        protocol="ipmi", address=bmcs.HOST, port=port, username=bmcs.USERNAME,
        password=bmcs.PASSWORD,
    )  # fmt: skip
    return process, access


if __name__ == "__main__":
    sys.exit(main())
