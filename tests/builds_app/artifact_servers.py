"""Real servers for the artifact storage tests, on loopback: an S3 endpoint (moto's server)
and nginx in front of a Rackpilot live server.

Import the fixtures into a test module::

    from tests.builds_app.artifact_servers import s3_server, s3_storage  # noqa: F401
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from rackpilot.settings import BASE_DIR
from tests.live_server import free_port
from tests.tools import require_tool, stop_process

BUCKET = "rackpilot-artifacts"
PREFIX = "site-a/builds"
REGION = "us-east-1"
ACCESS_KEY = "rackpilot-test"
SECRET_KEY = "rackpilot-test-secret"
NGINX_DOCS = BASE_DIR / "docs"
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def keys(self) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=BUCKET)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read(self, key: str) -> bytes:
        return bytes(self.client().get_object(Bucket=BUCKET, Key=key)["Body"].read())

    def environment(self) -> dict[str, str]:
        """The settings' environment variables for a process using this bucket."""
        return {
            "ARTIFACTS_STORAGE": "s3",
            "ARTIFACTS_S3_BUCKET": BUCKET,
            "ARTIFACTS_S3_PREFIX": PREFIX,
            "ARTIFACTS_S3_ENDPOINT_URL": self.endpoint,
            "ARTIFACTS_S3_REGION": REGION,
            "ARTIFACTS_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "ARTIFACTS_S3_SECRET_ACCESS_KEY": SECRET_KEY,
            "ARTIFACTS_S3_ADDRESSING_STYLE": "path",
        }

    def storage_options(self) -> dict[str, Any]:
        """``STORAGES["artifacts"]`` as rackpilot/settings.py makes it from ``environment``."""
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "location": PREFIX,
                "endpoint_url": self.endpoint,
                "region_name": REGION,
                "access_key": ACCESS_KEY,
                "secret_key": SECRET_KEY,
                "addressing_style": "path",
                "default_acl": None,
                "file_overwrite": True,
                "querystring_expire": 300,
                "signature_version": "s3v4",
            },
        }


@pytest.fixture
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server in a thread on a free loopback port, with an empty bucket."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        require_tool(False, "moto[server] (pip install -e '.[dev]')")
        raise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        s3 = S3Server(endpoint=f"http://127.0.0.1:{port}")
        # moto keeps its buckets per process, not per server: start from none.
        requests.post(f"{s3.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        s3.client().create_bucket(Bucket=BUCKET)
        yield s3
    finally:
        server.stop()


@pytest.fixture
def s3_storage(settings: Any, s3_server: S3Server) -> S3Server:
    """This process's artifact storage is the bucket (as ARTIFACTS_STORAGE=s3 makes it)."""
    settings.STORAGES = {**settings.STORAGES, "artifacts": s3_server.storage_options()}
    return s3_server


# --- nginx ---------------------------------------------------------------------------------


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    require_tool(bool(found), "nginx (scripts/install_system_packages.sh installs nginx-light)")
    return found


def render(template: Path, values: dict[str, str]) -> str:
    """The docs' nginx template with its ``${RACKPILOT_*}`` placeholders filled in, as the
    nginx image's envsubst does (nginx's own ``$variables`` stay)."""
    text = template.read_text()
    missing = set(re.findall(r"\$\{(RACKPILOT_[A-Z0-9_]+)\}", text)) - set(values)
    assert not missing, f"{template.name} needs {sorted(missing)}"
    return re.sub(r"\$\{(RACKPILOT_[A-Z0-9_]+)\}", lambda m: values[m.group(1)], text)


class Nginx:
    """nginx as a foreground child with its own prefix, serving the docs' Rackpilot config."""

    def __init__(
        self,
        prefix: Path,
        *,
        upstream: str,
        artifacts_location: str,
        http_extra: str = "",
        **values: str,
    ):
        self.prefix = prefix
        self.port = free_port()
        prefix.mkdir(parents=True, exist_ok=True)
        location = prefix / "artifacts-location.conf"
        location.write_text(render(NGINX_DOCS / artifacts_location, values))
        site = prefix / "rackpilot.conf"
        site.write_text(
            render(
                NGINX_DOCS / "nginx-rackpilot.conf",
                {
                    "RACKPILOT_LISTEN": f"127.0.0.1:{self.port}",
                    "RACKPILOT_UPSTREAM": upstream,
                    "RACKPILOT_ARTIFACTS_LOCATION": str(location),
                },
            )
        )
        temp = {name: prefix / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
        for path in temp.values():
            path.mkdir(exist_ok=True)
        self.config = prefix / "nginx.conf"
        self.config.write_text(
            # Workers as the test's user: as root, nginx would run them as nobody, who may not
            # read the test's temporary folders.
            f"""daemon off;
user {pwd.getpwuid(os.getuid()).pw_name};
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    {http_extra}
    include {site};
}}
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text() if path.exists() else ""

    def start(self) -> None:
        binary = nginx_binary()
        command = [binary, "-p", str(self.prefix), "-c", str(self.config), "-e", "stderr"]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"nginx exited:\n{self.log()}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"nginx did not listen on {self.port}:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
