"""Realistic workflow templates in the shape the Tinkerbell project publishes."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tinkerbell.template_functions import TINKERBELL_FUNCTIONS
from workflows.gotemplate import TemplateError
from workflows.gotemplate import render as go_render

MAC = "52:54:00:12:34:56"


def render(source: str, data: object, **options: Any) -> str:
    """Rendered as Tinkerbell renders: Sprig plus its own functions."""
    return go_render(source, data, funcs=TINKERBELL_FUNCTIONS, **options)


UBUNTU_TEMPLATE = """\
version: "0.1"
name: ubuntu_jammy
global_timeout: 1800
tasks:
  - name: "os-installation"
    worker: "{{.device_1}}"
    volumes:
      - /dev:/dev
      - /dev/console:/dev/console
      - /lib/firmware:/lib/firmware:ro
    actions:
      {{- /* The raw image goes to the first disk; partition 1 holds the root filesystem. */}}
      - name: "stream-ubuntu-image"
        image: quay.io/tinkerbell/actions/image2disk:latest
        timeout: 600
        environment:
          DEST_DISK: {{ index .Hardware.Disks 0 }}
          IMG_URL: "http://10.1.1.11:8080/jammy-server-cloudimg-amd64.raw.gz"
          COMPRESSED: true
      - name: "write-netplan"
        image: quay.io/tinkerbell/actions/writefile:latest
        timeout: 90
        environment:
          DEST_DISK: {{ formatPartition ( index .Hardware.Disks 0 ) 1 }}
          FS_TYPE: ext4
          DEST_PATH: /etc/netplan/config.yaml
          CONTENTS: |
            network:
              version: 2
              renderer: networkd
              ethernets:
                id0:
                  match:
                    macaddress: {{ (index .Hardware.Interfaces 0).DHCP.MAC }}
                  addresses:
                    - {{ (index .Hardware.Interfaces 0).DHCP.IP.Address }}/{{ netmaskToPrefixLength (index .Hardware.Interfaces 0).DHCP.IP.Netmask }}
                  {{- with (index .Hardware.Interfaces 0).DHCP.IP.Gateway }}
                  routes:
                    - to: default
                      via: {{ . }}
                  {{- end }}
                  nameservers:
                    addresses: [{{ join ", " (index .Hardware.Interfaces 0).DHCP.NameServers }}]
          UID: 0
          GID: 0
          MODE: 0644
          DIRMODE: 0755
      - name: "write-hostname"
        image: quay.io/tinkerbell/actions/writefile:latest
        timeout: 90
        environment:
          DEST_DISK: {{ formatPartition ( index .Hardware.Disks 0 ) 1 }}
          FS_TYPE: ext4
          DEST_PATH: /etc/hostname
          CONTENTS: {{ .hardware.metadata.name | quote }}
          MODE: 0644
      {{- if .Hardware.UserData }}
      - name: "write-user-data"
        image: quay.io/tinkerbell/actions/writefile:latest
        timeout: 90
        environment:
          DEST_DISK: {{ formatPartition ( index .Hardware.Disks 0 ) 1 }}
          FS_TYPE: ext4
          DEST_PATH: /var/lib/cloud/seed/nocloud/user-data
          CONTENTS: |
            {{- .Hardware.UserData | nindent 12 }}
          MODE: 0600
      {{- end }}
      - name: "kexec-ubuntu"
        image: quay.io/tinkerbell/actions/kexec:latest
        timeout: 90
        pid: host
        environment:
          BLOCK_DEVICE: {{ formatPartition ( index .Hardware.Disks 0 ) 1 }}
          FS_TYPE: ext4
          KERNEL_PATH: /boot/vmlinuz
          INITRD_PATH: /boot/initrd.img
          CMD_LINE: "root={{ formatPartition ( index .Hardware.Disks 0 ) 1 }} ro console=tty0 console=ttyS0,115200"
"""  # noqa: E501

ARCH_TEMPLATE = """\
version: "0.1"
name: {{ .hardware.metadata.name }}-provision
global_timeout: 1800
tasks:
  - name: "os-installation"
    worker: "{{.device_1}}"
    volumes:
      - /dev:/dev
      - /dev/console:/dev/console
    environment:
      ARCH: {{ (index .Hardware.Interfaces 0).DHCP.Arch }}
    actions:
      - name: "stream-image"
        image: quay.io/tinkerbell/actions/image2disk:latest
        timeout: 600
        environment:
          DEST_DISK: {{ index .Hardware.Disks 0 }}
          {{- if eq (index .Hardware.Interfaces 0).DHCP.Arch "aarch64" }}
          IMG_URL: "http://10.1.1.11:8080/jammy-server-cloudimg-arm64.raw.gz"
          {{- else }}
          IMG_URL: "http://10.1.1.11:8080/jammy-server-cloudimg-amd64.raw.gz"
          {{- end }}
          COMPRESSED: true
      {{- if (index .Hardware.Interfaces 0).DHCP.UEFI }}
      - name: "install-bootloader"
        image: quay.io/tinkerbell/actions/cexec:latest
        timeout: 90
        environment:
          BLOCK_DEVICE: {{ formatPartition ( index .Hardware.Disks 0 ) 1 }}
          FS_TYPE: ext4
          CHROOT: y
          DEFAULT_INTERPRETER: "/bin/sh -c"
          {{- if eq (index .Hardware.Interfaces 0).DHCP.Arch "aarch64" }}
          CMD_LINE: "grub-install --target=arm64-efi --efi-directory=/boot/efi"
          {{- else }}
          CMD_LINE: "grub-install --target=x86_64-efi --efi-directory=/boot/efi"
          {{- end }}
      {{- end }}
      - name: "reboot"
        image: quay.io/tinkerbell/actions/reboot:latest
        timeout: 90
        volumes:
          - /worker:/worker
"""


def hardware(*, arch: str = "x86_64", uefi: bool = True, user_data: str = "") -> dict[str, Any]:
    """Workflow data as Tinkerbell builds it for one machine."""
    return {
        "device_1": MAC,
        "Hardware": {
            "Disks": ["/dev/nvme0n1"],
            "Interfaces": [
                {
                    "DHCP": {
                        "MAC": MAC,
                        "Arch": arch,
                        "UEFI": uefi,
                        "Hostname": "worker-01",
                        "IP": {
                            "Address": "192.168.2.21",
                            "Netmask": "255.255.255.0",
                            "Gateway": "192.168.2.1",
                        },
                        "NameServers": ["1.1.1.1", "8.8.8.8"],
                        "LeaseTime": 86400,
                    },
                    "Netboot": {"AllowPXE": True, "AllowWorkflow": True},
                }
            ],
            "UserData": user_data,
            "Metadata": {"instance": {"id": MAC, "hostname": "worker-01"}},
        },
        "hardware": {
            "metadata": {"name": "worker-01"},
            "spec": {"disks": [{"device": "/dev/nvme0n1"}]},
        },
    }


UBUNTU_HEAD = """\
version: "0.1"
name: ubuntu_jammy
global_timeout: 1800
tasks:
  - name: "os-installation"
    worker: "52:54:00:12:34:56"
    volumes:
      - /dev:/dev
      - /dev/console:/dev/console
      - /lib/firmware:/lib/firmware:ro
    actions:
      - name: "stream-ubuntu-image"
        image: quay.io/tinkerbell/actions/image2disk:latest
        timeout: 600
        environment:
          DEST_DISK: /dev/nvme0n1
          IMG_URL: "http://10.1.1.11:8080/jammy-server-cloudimg-amd64.raw.gz"
          COMPRESSED: true
      - name: "write-netplan"
        image: quay.io/tinkerbell/actions/writefile:latest
        timeout: 90
        environment:
          DEST_DISK: /dev/nvme0n1p1
          FS_TYPE: ext4
          DEST_PATH: /etc/netplan/config.yaml
          CONTENTS: |
            network:
              version: 2
              renderer: networkd
              ethernets:
                id0:
                  match:
                    macaddress: 52:54:00:12:34:56
                  addresses:
                    - 192.168.2.21/24
                  routes:
                    - to: default
                      via: 192.168.2.1
                  nameservers:
                    addresses: [1.1.1.1, 8.8.8.8]
          UID: 0
          GID: 0
          MODE: 0644
          DIRMODE: 0755
      - name: "write-hostname"
        image: quay.io/tinkerbell/actions/writefile:latest
        timeout: 90
        environment:
          DEST_DISK: /dev/nvme0n1p1
          FS_TYPE: ext4
          DEST_PATH: /etc/hostname
          CONTENTS: "worker-01"
          MODE: 0644
"""

UBUNTU_USER_DATA_ACTION = """\
      - name: "write-user-data"
        image: quay.io/tinkerbell/actions/writefile:latest
        timeout: 90
        environment:
          DEST_DISK: /dev/nvme0n1p1
          FS_TYPE: ext4
          DEST_PATH: /var/lib/cloud/seed/nocloud/user-data
          CONTENTS: |
            #cloud-config
            users:
              - name: tink
          MODE: 0600
"""

UBUNTU_TAIL = """\
      - name: "kexec-ubuntu"
        image: quay.io/tinkerbell/actions/kexec:latest
        timeout: 90
        pid: host
        environment:
          BLOCK_DEVICE: /dev/nvme0n1p1
          FS_TYPE: ext4
          KERNEL_PATH: /boot/vmlinuz
          INITRD_PATH: /boot/initrd.img
          CMD_LINE: "root=/dev/nvme0n1p1 ro console=tty0 console=ttyS0,115200"
"""


def test_ubuntu_template_renders_exact_workflow_yaml() -> None:
    data = hardware(user_data="#cloud-config\nusers:\n  - name: tink")

    rendered = render(UBUNTU_TEMPLATE, data, name="ubuntu")

    assert rendered == UBUNTU_HEAD + UBUNTU_USER_DATA_ACTION + UBUNTU_TAIL


def test_ubuntu_template_without_user_data_drops_that_action() -> None:
    rendered = render(UBUNTU_TEMPLATE, hardware(user_data=""), name="ubuntu")

    assert rendered == UBUNTU_HEAD + UBUNTU_TAIL


def test_rendered_ubuntu_workflow_is_valid_yaml_with_the_expected_actions() -> None:
    rendered = render(UBUNTU_TEMPLATE, hardware(user_data="#cloud-config"), name="ubuntu")

    workflow = yaml.safe_load(rendered)
    task = workflow["tasks"][0]
    actions = {action["name"]: action for action in task["actions"]}
    assert task["worker"] == MAC
    assert list(actions) == [
        "stream-ubuntu-image",
        "write-netplan",
        "write-hostname",
        "write-user-data",
        "kexec-ubuntu",
    ]
    netplan = yaml.safe_load(actions["write-netplan"]["environment"]["CONTENTS"])
    nic = netplan["network"]["ethernets"]["id0"]
    assert nic["addresses"] == ["192.168.2.21/24"]
    assert nic["routes"] == [{"to": "default", "via": "192.168.2.1"}]


ARCH_HEAD = """\
version: "0.1"
name: worker-01-provision
global_timeout: 1800
tasks:
  - name: "os-installation"
    worker: "52:54:00:12:34:56"
    volumes:
      - /dev:/dev
      - /dev/console:/dev/console
    environment:
      ARCH: {arch}
    actions:
      - name: "stream-image"
        image: quay.io/tinkerbell/actions/image2disk:latest
        timeout: 600
        environment:
          DEST_DISK: /dev/nvme0n1
          IMG_URL: "http://10.1.1.11:8080/jammy-server-cloudimg-{image_arch}.raw.gz"
          COMPRESSED: true
"""

ARCH_BOOTLOADER = """\
      - name: "install-bootloader"
        image: quay.io/tinkerbell/actions/cexec:latest
        timeout: 90
        environment:
          BLOCK_DEVICE: /dev/nvme0n1p1
          FS_TYPE: ext4
          CHROOT: y
          DEFAULT_INTERPRETER: "/bin/sh -c"
          CMD_LINE: "grub-install --target={efi_target} --efi-directory=/boot/efi"
"""

ARCH_TAIL = """\
      - name: "reboot"
        image: quay.io/tinkerbell/actions/reboot:latest
        timeout: 90
        volumes:
          - /worker:/worker
"""


@pytest.mark.parametrize(
    ("arch", "image_arch", "efi_target"),
    [("x86_64", "amd64", "x86_64-efi"), ("aarch64", "arm64", "arm64-efi")],
)
def test_arch_template_chooses_image_and_bootloader_by_architecture(
    arch: str, image_arch: str, efi_target: str
) -> None:
    rendered = render(ARCH_TEMPLATE, hardware(arch=arch, uefi=True), name="arch")

    assert rendered == (
        ARCH_HEAD.format(arch=arch, image_arch=image_arch)
        + ARCH_BOOTLOADER.format(efi_target=efi_target)
        + ARCH_TAIL
    )


def test_arch_template_skips_the_bootloader_for_legacy_bios() -> None:
    rendered = render(ARCH_TEMPLATE, hardware(arch="aarch64", uefi=False), name="arch")

    assert rendered == ARCH_HEAD.format(arch="aarch64", image_arch="arm64") + ARCH_TAIL


def test_missing_hardware_field_fails_with_its_position() -> None:
    data = hardware()
    del data["Hardware"]["Interfaces"][0]["DHCP"]["Arch"]

    with pytest.raises(TemplateError) as caught:
        render(ARCH_TEMPLATE, data, name="arch")

    assert str(caught.value) == 'arch:11:16: map has no entry for key "Arch"'


def test_machine_without_disks_fails_on_the_first_disk_lookup() -> None:
    data = hardware()
    data["Hardware"]["Disks"] = []

    with pytest.raises(TemplateError) as caught:
        render(UBUNTU_TEMPLATE, data, name="ubuntu")

    assert str(caught.value) == "ubuntu:17:25: error calling index: index out of range: 0"
