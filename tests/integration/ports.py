"""ports.py - loopback listening ports for the test and benchmark daemons (stdlib only,
no side effects on import, shared by tests/integration and tests/bench)."""
import secrets
import socket

HOST = "127.0.0.1"
_given_ports = set()
# Listening ports come from below Linux's ephemeral range (32768-60999 by default): a port
# picked there and released can be taken by any outgoing connection on the machine (the
# tests' own clients) before the daemon binds it.
PORT_LO, PORT_HI = 12000, 32000


def free_ports(n):
	"""n distinct loopback ports, free right now, never handed out twice by this process,
	outside the ephemeral range so outgoing connections do not take them."""
	ports = []
	rng = secrets.SystemRandom()
	while len(ports) < n:
		p = rng.randrange(PORT_LO, PORT_HI)
		if p in _given_ports:
			continue
		s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		try:
			s.bind((HOST, p))
		except OSError:
			continue
		finally:
			s.close()
		_given_ports.add(p)
		ports.append(p)
	return ports


def free_port():
	return free_ports(1)[0]
