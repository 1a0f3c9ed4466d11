"""Real containers for the test suite, without a Docker engine and without a public registry.

Per pytest-xdist worker (each in its own locked folder, `/tmp/rackpilot-test-<worker>/`):
- a local OCI registry: Debian's `docker-registry` on 127.0.0.1 and a free port;
- rootful podman serving the Docker Engine API on a unix socket, configured the way
  /work/shared/ENVIRONMENT.md found to work on these machines (runc, cgroupfs, file events,
  ulimits root may set);
- small action images made from busybox-static and the scripts in `tests/agent/images/`,
  imported with `podman import` and pushed to that registry.

Run `python -m tests.containers` to start the same set-up by hand (scripts/podman_service.sh).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker

PODMAN = "podman"
RUNC = "runc"
REGISTRY = "docker-registry"
BUSYBOX = Path("/bin/busybox")
IMAGE_SCRIPTS = Path(__file__).resolve().parent / "agent" / "images"
IMAGE_NAMESPACE = "rackpilot-test"
IMAGE_TAG = "v1"
ACTION_IMAGES = ("lines", "sleeper", "longline", "failer", "writer")
# Bumped when the way images are made changes in a way their inputs do not show.
IMAGE_RECIPE_VERSION = 1
# What podman 4 serves. Naming it spares every new client a /version round trip, which podman
# answers in ~0.3 s (it asks runc and conmon for theirs).
ENGINE_API_VERSION = "1.41"
IMAGE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"

# Loopback only: a proxy from the environment must never see these requests.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ContainerSetupError(RuntimeError):
    """A server did not start, or an image could not be made; the message carries its log."""


def xdist_worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@contextlib.contextmanager
def claim_work_directory(worker: str, root: Path = Path("/tmp")) -> Iterator[Path]:
    """Hold `<root>/rackpilot-test-<worker>` for as long as the block runs.

    The folder keeps the registry's blobs and podman's storage between runs (that is the
    cache). Two pytest runs on one machine both have a worker "gw0": the second one to arrive
    takes the next free sibling (`...-gw0.1`) instead of sharing servers and containers.
    """
    for attempt in range(32):
        suffix = f".{attempt}" if attempt else ""
        directory = root / f"rackpilot-test-{worker}{suffix}"
        directory.mkdir(parents=True, exist_ok=True)
        lock = (directory / "containers.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        try:
            yield directory
        finally:
            lock.close()  # releases the lock
        return
    raise ContainerSetupError(f"no free work folder for worker {worker} under {root}")


# -- processes -------------------------------------------------------------------------------


def _die_with_parent() -> None:
    # PR_SET_PDEATHSIG: a test run killed without its teardown must not leave servers behind.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _spawn(
    argv: list[str], *, log: Path, pidfile: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            # Own session: Ctrl-C reaches pytest, which then tears the servers down in order.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    pidfile.write_text(str(process.pid))
    return process


def _terminate(process: subprocess.Popen[bytes], pidfile: Path, grace: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    pidfile.unlink(missing_ok=True)


def _stop_stale(pidfile: Path, marker: str) -> None:
    """Stop the server a killed earlier run of this worker left, if its pid is still that one."""
    try:
        pid = int(pidfile.read_text())
    except (FileNotFoundError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        cmdline = ""
    if marker in cmdline:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)


def _log_tail(log: Path, limit: int = 4000) -> str:
    try:
        return log.read_text(errors="replace")[-limit:]
    except FileNotFoundError:
        return "(no log)"


# -- OCI registry ----------------------------------------------------------------------------


def registry_request(
    address: str, path: str, *, method: str = "GET", accept: str = ""
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request to the registry at `address`: status, headers, body (errors included)."""
    headers = {"Accept": accept} if accept else {}
    request = urllib.request.Request(f"http://{address}{path}", method=method, headers=headers)
    try:
        with _http.open(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@dataclass
class OciRegistry:
    address: str  # "127.0.0.1:<port>", the host part of every image reference
    directory: Path
    process: subprocess.Popen[bytes]


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # As the registry binds (Go sets SO_REUSEADDR): closed connections of the previous run
        # in TIME_WAIT must not make its port look taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_port(preferred: int | None) -> int:
    # The same port as last run keeps image references stable across runs, so podman's storage
    # does not collect a new set of names each time.
    if preferred and _port_is_free(preferred):
        return preferred
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def run_oci_registry(directory: Path, timeout: float = 20.0) -> Iterator[OciRegistry]:
    """`docker-registry serve` with filesystem storage in `directory`, on loopback only."""
    directory.mkdir(parents=True, exist_ok=True)
    pidfile, log, port_file = directory / "pid", directory / "registry.log", directory / "port"
    config = directory / "registry.yml"
    _stop_stale(pidfile, str(config))
    preferred = int(port_file.read_text()) if port_file.exists() else None
    for _attempt in range(3):
        port = _pick_port(preferred)
        preferred = None
        # JSON is YAML: no quoting questions for the paths.
        settings = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(directory / "storage")},
                "delete": {"enabled": True},
            },
            "http": {"addr": f"127.0.0.1:{port}"},
        }
        config.write_text(json.dumps(settings, indent=2))
        log.write_text("")
        process = _spawn([REGISTRY, "serve", str(config)], log=log, pidfile=pidfile)
        registry = OciRegistry(f"127.0.0.1:{port}", directory, process)
        if _wait_for_registry(registry, timeout):
            break
        _terminate(process, pidfile)
        if "address already in use" not in _log_tail(log):
            raise ContainerSetupError(f"docker-registry did not start:\n{_log_tail(log)}")
    else:
        raise ContainerSetupError(f"docker-registry found no free port:\n{_log_tail(log)}")
    port_file.write_text(str(port))
    try:
        yield registry
    finally:
        _terminate(process, pidfile)


def _wait_for_registry(registry: OciRegistry, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            return False
        with contextlib.suppress(OSError):
            status, _headers, _body = registry_request(registry.address, "/v2/")
            # Still ours? An old server on the same port would answer while ours dies.
            if status == 200 and registry.process.poll() is None:
                return True
        time.sleep(0.05)
    return False


# -- podman ----------------------------------------------------------------------------------


@dataclass
class PodmanEngine:
    """Rootful podman serving the Docker Engine API (1.41) on `socket`."""

    directory: Path
    socket: Path
    # CONTAINERS_CONF / _STORAGE_CONF / _REGISTRIES_CONF: a podman CLI call made with
    # `env={**os.environ, **engine.env}` sees the same storage and containers as the service.
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket}"

    def client(self, timeout: int = 120) -> docker.DockerClient:
        import docker

        return docker.DockerClient(
            base_url=self.base_url, version=ENGINE_API_VERSION, timeout=timeout
        )

    def podman(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the podman CLI against this engine's storage; a failure shows podman's stderr."""
        result = subprocess.run(
            [PODMAN, *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise ContainerSetupError(
                f"podman {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}"
            )
        return result

    def remove_all_containers(self) -> None:
        # `-t 0`: containers that ignore SIGTERM (sleeper with IGNORE_TERM=1) go at once.
        self.podman("rm", "--all", "--force", "--time", "0", timeout=120, check=False)


def write_podman_config(directory: Path, registry_address: str) -> dict[str, str]:
    """The three configuration files ENVIRONMENT.md describes; returns the env naming them."""
    directory.mkdir(parents=True, exist_ok=True)
    containers_conf = directory / "containers.conf"
    storage_conf = directory / "storage.conf"
    registries_conf = directory / "registries.conf"
    # crun fails on this host's hybrid cgroups; root cannot raise hard limits, so the default
    # ulimits must stay below them. tmp_dir and file locks keep each worker's podman apart: the
    # defaults (/run/libpod, one shared-memory lock table) are shared by every podman on the
    # machine, and one worker's start-up refresh would free the locks of another's containers.
    containers_conf.write_text(
        "[containers]\n"
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        f'tmp_dir = "{directory / "tmp"}"\n'
        'lock_type = "file"\n'
    )
    storage_conf.write_text(
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{directory / "storage"}"\n'
        f'runroot = "{directory / "run"}"\n'
    )
    # No search registries: a short name must never send podman looking on the internet.
    registries_conf.write_text(
        "unqualified-search-registries = []\n"
        "[[registry]]\n"
        f'location = "{registry_address}"\n'
        "insecure = true\n"
    )
    return {
        "CONTAINERS_CONF": str(containers_conf),
        "CONTAINERS_STORAGE_CONF": str(storage_conf),
        "CONTAINERS_REGISTRIES_CONF": str(registries_conf),
    }


@contextlib.contextmanager
def run_podman_engine(
    directory: Path, registry_address: str, timeout: float = 60.0
) -> Iterator[PodmanEngine]:
    """`podman system service` on `<directory>/podman.sock`; its containers go when it stops."""
    pidfile, log, sock = directory / "pid", directory / "service.log", directory / "podman.sock"
    _stop_stale(pidfile, str(sock))
    env = write_podman_config(directory, registry_address)
    sock.unlink(missing_ok=True)
    log.write_text("")
    process = _spawn(
        [PODMAN, "system", "service", "--time=0", f"unix://{sock}"],
        log=log,
        pidfile=pidfile,
        env={**os.environ, **env},
    )
    engine = PodmanEngine(directory, sock, env, process)
    try:
        _wait_for_engine(engine, log, timeout)
        # Containers of a run that was killed before its teardown.
        engine.remove_all_containers()
        yield engine
    finally:
        engine.remove_all_containers()
        _terminate(process, pidfile)
        sock.unlink(missing_ok=True)
        _unmount_overlay_home(directory / "storage" / "overlay")


def _unmount_overlay_home(home: Path) -> None:
    # The overlay driver bind-mounts its home onto itself and may leave that mount behind; the
    # folder could then not be deleted. The next start mounts it again.
    with open("/proc/self/mountinfo") as mounts:
        mounted = any(line.split()[4] == str(home) for line in mounts)
    if mounted:
        subprocess.run(["umount", str(home)], capture_output=True, check=False)


def _wait_for_engine(engine: PodmanEngine, log: Path, timeout: float) -> None:
    import docker

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if engine.process.poll() is not None:
            break
        if engine.socket.exists():
            with contextlib.suppress(docker.errors.DockerException, OSError):
                client = engine.client(timeout=5)
                try:
                    if client.ping():
                        return
                finally:
                    client.close()
        time.sleep(0.05)
    raise ContainerSetupError(f"podman system service did not answer:\n{_log_tail(log)}")


# -- action images ---------------------------------------------------------------------------


def _busybox_applets() -> list[str]:
    listed = subprocess.run(
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
    ).stdout
    return sorted({name for name in listed.split() if name and "/" not in name} - {"busybox"})


def build_rootfs_tar() -> bytes:
    """The root filesystem every action image shares, as a reproducible tar.

    Fixed owners, modes and times: the same busybox and scripts give the same bytes, hence the
    same layer digest, and the cache key below can be the tar's hash.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(name: str, kind: bytes, mode: int, data: bytes = b"", link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, 0, link
            info.uname = info.gname = "root"
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for folder in ("bin", "dev", "etc", "mnt", "proc", "root", "run", "sys", "usr", "var"):
            add(folder, tarfile.DIRTYPE, 0o755)
        for folder in ("usr/bin", "usr/local", "usr/local/bin"):
            add(folder, tarfile.DIRTYPE, 0o755)
        add("tmp", tarfile.DIRTYPE, 0o1777)
        add("bin/busybox", tarfile.REGTYPE, 0o755, BUSYBOX.read_bytes())
        for applet in _busybox_applets():
            add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox")
        add("etc/passwd", tarfile.REGTYPE, 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
        add("etc/group", tarfile.REGTYPE, 0o644, b"root:x:0:\n")
        for name in ACTION_IMAGES:
            script = (IMAGE_SCRIPTS / f"{name}.sh").read_bytes()
            add(f"usr/local/bin/{name}", tarfile.REGTYPE, 0o755, script)
    return buffer.getvalue()


def image_reference(registry_address: str, name: str) -> str:
    return f"{registry_address}/{IMAGE_NAMESPACE}/{name}:{IMAGE_TAG}"


_MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


def _registry_digest(registry_address: str, name: str) -> str | None:
    status, headers, _body = registry_request(
        registry_address,
        f"/v2/{IMAGE_NAMESPACE}/{name}/manifests/{IMAGE_TAG}",
        method="HEAD",
        accept=_MANIFEST_TYPES,
    )
    return headers.get("Docker-Content-Digest") if status == 200 else None


def ensure_action_images(
    engine: PodmanEngine, registry_address: str, directory: Path
) -> dict[str, str]:
    """Make the action images and push them, unless the registry already holds these exact ones.

    Returns name → reference (`127.0.0.1:<port>/rackpilot-test/<name>:v1`). The registry's
    storage outlives the run, so a later run with unchanged scripts only checks digests.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rootfs = build_rootfs_tar()
    inputs = hashlib.sha256(rootfs + f"recipe {IMAGE_RECIPE_VERSION}".encode()).hexdigest()
    references = {name: image_reference(registry_address, name) for name in ACTION_IMAGES}
    stamp = directory / "images.json"
    with contextlib.suppress(FileNotFoundError, ValueError):
        built = json.loads(stamp.read_text())
        if built.get("inputs") == inputs and all(
            _registry_digest(registry_address, name) == built["digests"].get(name)
            for name in ACTION_IMAGES
        ):
            return references
    tar_path = directory / "rootfs.tar"
    tar_path.write_bytes(rootfs)
    digests = {}
    for name, reference in references.items():
        engine.podman(
            "import",
            "--quiet",
            "--change",
            f'CMD ["/usr/local/bin/{name}"]',
            "--change",
            f"ENV PATH={IMAGE_PATH}",
            "--change",
            f"LABEL org.opencontainers.image.title={IMAGE_NAMESPACE}/{name}",
            str(tar_path),
            reference,
        )
        digest_file = directory / f"{name}.digest"
        engine.podman(
            "push", "--quiet", "--tls-verify=false", "--digestfile", str(digest_file), reference
        )
        digests[name] = digest_file.read_text().strip()
    staged = stamp.with_suffix(".tmp")
    staged.write_text(json.dumps({"inputs": inputs, "digests": digests}, indent=2))
    staged.replace(stamp)
    return references


# -- by hand ---------------------------------------------------------------------------------


def main() -> None:
    """Start the registry and podman, push the images, print how to reach them; Ctrl-C stops."""
    worker = os.environ.get("RACKPILOT_CONTAINERS_NAME", "manual")

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM (kill, a supervisor) tears down in order too, like Ctrl-C.
    signal.signal(signal.SIGTERM, interrupt)
    started = time.monotonic()
    with (
        claim_work_directory(worker) as directory,
        run_oci_registry(directory / "registry") as registry,
        run_podman_engine(directory / "podman", registry.address) as engine,
    ):
        images = ensure_action_images(engine, registry.address, directory / "images")
        print(f"ready in {time.monotonic() - started:.1f}s; folder {directory}")
        print(f"registry:   http://{registry.address}/v2/")
        print(f"DOCKER_HOST={engine.base_url}")
        for key, value in engine.env.items():
            print(f"export {key}={value}")
        for name, reference in images.items():
            print(f"image {name}: {reference}")
        print("Ctrl-C or SIGTERM stops the servers and removes the containers.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
