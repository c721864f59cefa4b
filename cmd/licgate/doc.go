// Command licgate is the licgate gateway and its admin CLI.
//
//	licgate serve -c /etc/licgate/licgate.yaml   run the daemon
//	licgate demo [--once]                         a self-contained demonstration
//	licgate user add|list|disable|enable ...      manage users (via the daemon)
//	licgate device add|list|revoke ...            manage devices (via the daemon)
//	licgate sessions                              live sessions
//	licgate peers                                 WireGuard peers and handshakes
//	licgate licsim                                the stand-in license server
//
// Every command but serve, demo and licsim talks to the running daemon
// over its unix socket (-socket, $LICGATE_SOCKET, or the config's socket).
package main
