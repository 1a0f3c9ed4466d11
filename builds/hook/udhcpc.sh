#!/bin/sh
# udhcpc's hook in the Rackpilot Hook: apply the lease (address, router, DNS) with iproute2.
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for gateway in $router; do ip route replace default via "$gateway" dev "$interface"; break; done
    : >/etc/resolv.conf
    [ -n "$domain" ] && echo "search $domain" >>/etc/resolv.conf
    for server in $dns; do echo "nameserver $server" >>/etc/resolv.conf; done
    echo "rackpilot-hook: $interface has $ip/${mask:-24}${router:+ via $router}"
    ;;
esac
exit 0
