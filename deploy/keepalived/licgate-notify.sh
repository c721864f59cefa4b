#!/bin/sh
# keepalived notify script for licgate: while this gateway holds the
# virtual IP, traffic it sends through its default route (WireGuard's
# answers to home devices) leaves with the VIP as source address.
#
# Why: the office router forwards UDP 51820 to the VIP; an answer from
# the gateway's own address would not match the router's NAT entry, and
# a home device that sees answers from that address follows it there
# and stays with the dead box after a failover. (WireGuard is meant to
# answer from the address a packet came to, "sticky sockets"; the
# wireguard-go release licgate builds with loses that when the kernel
# coalesces UDP packets, so this script makes the route say it instead.)
#
# keepalived calls: licgate-notify.sh VIP DEV ROUTER  INSTANCE NAME STATE PRIORITY
# (the first three from keepalived.conf, the office router being the
# default gateway). The router is named rather than looked up: the
# kernel deletes a route whose source address goes away, so after the
# VIP left there may be no default route to look at.
# Install as /usr/local/lib/licgate/licgate-notify.sh, root, mode 0755.
set -eu
vip=$1 dev=$2 gw=$3 state=$6
case $state in
MASTER) ip -4 route replace default via "$gw" dev "$dev" src "$vip" ;;
*)      ip -4 route replace default via "$gw" dev "$dev" ;;
esac
