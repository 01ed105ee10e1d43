// Package freeport picks loopback ports for the test servers that are
// separate processes (etcd, the API server, sshd, Gitea), which must be
// told a port before they bind it. It owns one concern: choosing ports
// that nothing else is likely to take between the pick and the bind.
package freeport
