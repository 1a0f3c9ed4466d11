#!/bin/sh
# The Rackpilot Hook's init (PID 1 of the in-memory OS): load the drivers the hardware needs,
# bring up the network, start the container engine, then run rackpilot-agent for as long as
# the machine is up. Everything it does is printed on the console, prefixed "rackpilot-hook:".
#
# Kernel command line (written by Rackpilot's iPXE script; Tinkerbell's names where they exist):
#   hw_addr= / worker_id=      the MAC of the interface to bring up (else the first with a link)
#   vlan_id=                   tag the boot interface's traffic with this VLAN
#   insecure_registries=       registries dockerd may pull from over plain HTTP (comma separated)
#   rackpilot_url=, rackpilot_token=   read by the agent itself

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { echo "rackpilot-hook: $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /run /tmp /sys/fs/cgroup /var/lib/docker
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# The initramfs cannot be pivoted out of; docker's data gets a tmpfs of its own so that its
# overlay mounts sit on a filesystem that supports them.
mount -t tmpfs -o size=90% tmpfs /var/lib/docker
exec </dev/console >/dev/console 2>&1

arg() {  # the value of a kernel parameter, "" when absent
  for word in $(cat /proc/cmdline); do
    case "$word" in "$1"=*) echo "${word#*=}"; return ;; esac
  done
}

say "starting ($(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB)"

# Coldplug: a driver for every device that announces a modalias; loading drivers (PCI bridges,
# virtio) reveals more devices, so go round until nothing new appears.
loaded=""
for round in 1 2 3; do
  aliases=$(find /sys/devices -name modalias -exec cat {} + 2>/dev/null | sort -u)
  [ "$aliases" = "$loaded" ] && break
  echo "$aliases" | xargs -r modprobe -abq 2>/dev/null
  loaded=$aliases
done
for module in overlay 8021q; do modprobe -q "$module"; done
say "drivers: $(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')"
say "disks: $(ls /sys/block | grep -v -e '^loop' -e '^ram' | tr '\n' ' ')"

ip link set lo up
mac=$(arg hw_addr); [ -n "$mac" ] || mac=$(arg worker_id)
iface=""
for dev in /sys/class/net/*; do
  name=${dev##*/}
  [ "$name" = lo ] && continue
  if [ -n "$mac" ] && [ "$(cat "$dev/address")" = "$mac" ]; then iface=$name; break; fi
  [ -z "$iface" ] && iface=$name
done
if [ -z "$iface" ]; then
  say "no network interface found"
else
  ip link set "$iface" up
  vlan=$(arg vlan_id)
  if [ -n "$vlan" ]; then
    ip link add link "$iface" name "$iface.$vlan" type vlan id "$vlan"
    iface="$iface.$vlan"
    ip link set "$iface" up
  fi
  say "DHCP on $iface ($mac)"
  until udhcpc -i "$iface" -q -n -t 10 -s /etc/rackpilot-hook/udhcpc.sh; do
    say "no DHCP answer on $iface yet; trying again"
    sleep 2
  done
fi

registries=$(arg insecure_registries)
mkdir -p /etc/docker
if [ -n "$registries" ]; then
  list=$(echo "$registries" | sed 's/[^,][^,]*/"&"/g')
  echo "{\"iptables\": false, \"bridge\": \"none\", \"insecure-registries\": [$list]}" >/etc/docker/daemon.json
else
  echo '{"iptables": false, "bridge": "none"}' >/etc/docker/daemon.json
fi
say "starting dockerd"
DOCKER_RAMDISK=true dockerd >/var/log/dockerd.log 2>&1 &
until [ -S /var/run/docker.sock ]; do sleep 0.5; done
say "dockerd is up"

# The agent keeps its session token and log spool here, across its own restarts.
mkdir -p /var/lib/rackpilot-agent
attempt=0
while true; do
  attempt=$((attempt + 1))
  say "starting rackpilot-agent (attempt $attempt)"
  rackpilot-agent --state-dir /var/lib/rackpilot-agent
  say "rackpilot-agent exited with code $?; starting it again in 5 s"
  sleep 5
done
