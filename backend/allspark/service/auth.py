"""Who may talk to the service: the HMAC key (every message) and, off loopback, ZeroMQ CURVE.

On 127.0.0.1 / ::1 the connection file's HMAC key (readable only by the user) authenticates every
message. Binding any other address also needs CURVE (encryption and server authentication, and
client authentication when a folder of allowed client public keys is given): without a server secret
key `check_bind` refuses to start and says why. Keys are ZeroMQ certificate files, as written by
`allspark serve --curve-keygen DIR` (zmq.auth.create_certificates).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from ..errors import AllSparkError


def is_loopback(ip: str) -> bool:
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip.strip("[]")).is_loopback
    except ValueError:
        return False  # "*", host names, interface names: not loopback


def is_wildcard(ip: str) -> bool:
    """'*' or an unspecified address (all interfaces)."""
    if ip == "*":
        return True
    try:
        return ipaddress.ip_address(ip.strip("[]")).is_unspecified
    except ValueError:
        return False


@dataclass
class CurveKeys:
    public: bytes
    secret: bytes
    clients_dir: str | None = None  # None: any client key (the HMAC key still authenticates)


def load_curve(secret_file: str | None, clients_dir: str | None) -> CurveKeys | None:
    if not secret_file:
        if clients_dir:
            raise AllSparkError("--curve-clients needs --curve-secret-key (the server's certificate)")
        return None
    import zmq
    import zmq.auth

    if not zmq.has("curve"):
        raise AllSparkError("this pyzmq / libzmq build has no CURVE support; install a pyzmq wheel with libsodium")
    if not os.path.isfile(secret_file):
        raise AllSparkError(f"--curve-secret-key {secret_file}: no such file")
    try:
        public, secret = zmq.auth.load_certificate(secret_file)
    except Exception as exc:
        raise AllSparkError(f"--curve-secret-key {secret_file}: not a ZeroMQ certificate ({exc})") from None
    if not secret:
        raise AllSparkError(f"--curve-secret-key {secret_file} holds only a public key; give the "
                            f"'.key_secret' file")
    if clients_dir and not os.path.isdir(clients_dir):
        raise AllSparkError(f"--curve-clients {clients_dir}: no such folder")
    return CurveKeys(public=public, secret=secret, clients_dir=clients_dir)


def check_bind(ip: str, curve: CurveKeys | None) -> None:
    """Refuse a non-loopback bind without CURVE keys."""
    if not is_loopback(ip) and curve is None:
        raise AllSparkError(
            f"refusing to listen on {ip}: off the loopback interface the service needs ZeroMQ CURVE keys "
            f"as well as the HMAC key (anyone on the network could otherwise read the traffic). Create "
            f"them with `allspark serve --curve-keygen DIR`, then start with --curve-secret-key "
            f"DIR/server.key_secret [--curve-clients DIR/clients]; or listen on 127.0.0.1 and use an SSH tunnel")


def apply_server_curve(ctx, sock, curve: CurveKeys | None):
    """Make `sock` a CURVE server; returns the authenticator thread to stop on exit (or None)."""
    if curve is None:
        return None
    from zmq.auth.thread import ThreadAuthenticator

    auth = ThreadAuthenticator(ctx)
    auth.start()
    if curve.clients_dir:
        auth.configure_curve(domain="*", location=curve.clients_dir)
    else:
        import zmq.auth

        auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
    sock.curve_secretkey = curve.secret
    sock.curve_publickey = curve.public
    sock.curve_server = True
    return auth


def keygen(folder: str) -> dict:
    """Write CURVE certificates: DIR/server.key(_secret), DIR/client.key(_secret), and the client's public
    key into DIR/clients (the folder of allowed clients for --curve-clients)."""
    import shutil

    import zmq.auth

    os.makedirs(folder, mode=0o700, exist_ok=True)
    server_public, server_secret = zmq.auth.create_certificates(folder, "server")
    client_public, client_secret = zmq.auth.create_certificates(folder, "client")
    clients = os.path.join(folder, "clients")
    os.makedirs(clients, mode=0o700, exist_ok=True)
    shutil.copy(client_public, os.path.join(clients, "client.key"))
    for path in (server_secret, client_secret):
        if os.name == "posix":
            os.chmod(path, 0o600)
    return {"server_public": server_public, "server_secret": server_secret,
            "client_public": client_public, "client_secret": client_secret, "clients": clients}
