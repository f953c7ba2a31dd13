"""CURVE keys: making them (`orderpath keys init`), reading them, and the allow-list of client keys.

The keys folder (curve.keys_dir in stack.yaml) holds key pairs in ZeroMQ's certificate format
(`NAME.key` the public key, `NAME.key_secret` both keys, mode 0600):

    server      the key every CURVE server socket binds with (control's ops, and with curve.data every
                socket that binds); its public half is what clients must know
    services    the key the services connect with (heartbeats, snapshots, streams)
    operator    the key `orderpath ctl` connects with
    allowed/    public keys of the clients a server accepts, one file each; the file's name (without
                .key) is the name the audit records, so `allowed/ann.key` is operator "ann"

Revoking a client is deleting its file from allowed/ (checked at every connection); adding an operator
is `orderpath keys add NAME`, which makes the pair and allows its public key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import zmq
import zmq.auth

from services.runtime.config.curve import CurveConfig
from services.runtime.config.loader import ConfigError

SERVER_KEY = "server"
ALLOWED_DIR = "allowed"
PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
_BANNER = "#   ZeroMQ CURVE {kind} certificate, made by `orderpath keys` on {when}\n#   {warning}\n\n"


class KeysExist(FileExistsError):
    """`keys init` would overwrite keys that running services may be using."""


def public_path(keys_dir: Path, name: str) -> Path:
    return keys_dir / f"{name}{PUBLIC_SUFFIX}"


def secret_path(keys_dir: Path, name: str) -> Path:
    return keys_dir / f"{name}{SECRET_SUFFIX}"


def _write(path: Path, kind: str, public: bytes, secret: bytes | None, mode: int, overwrite: bool) -> None:
    warning = "Keep this file to yourself: whoever has it can act as its owner." if secret else \
        "Public: give it to whoever must know this key."
    text = _BANNER.format(kind=kind, when=datetime.now(UTC).isoformat(timespec="seconds"), warning=warning)
    text += f'metadata\ncurve\n    public-key = "{public.decode()}"\n'
    if secret:
        text += f'    secret-key = "{secret.decode()}"\n'
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    # Created with its final mode: a secret key is never readable by others, not even for an instant.
    fd = os.open(path, flags, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(text)


def make_keypair(keys_dir: Path, name: str, *, allow: bool, overwrite: bool = False) -> list[Path]:
    """Write NAME.key and NAME.key_secret (0600) into keys_dir, and allowed/NAME.key if `allow`."""
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    public, secret = zmq.curve_keypair()
    written = [public_path(keys_dir, name), secret_path(keys_dir, name)]
    _write(written[0], "public", public, None, 0o644, overwrite)
    _write(written[1], "secret", public, secret, 0o600, overwrite)
    if allow:
        allowed = keys_dir / ALLOWED_DIR
        allowed.mkdir(mode=0o700, exist_ok=True)
        written.append(public_path(allowed, name))
        _write(written[-1], "public", public, None, 0o644, overwrite)
    return written


def init_keys(keys_dir: Path, config: CurveConfig, *, force: bool = False) -> list[Path]:
    """The server key pair, the services' and the operator's, both allowed. Refuses to replace existing
    keys unless `force` (every service and operator would need the new ones)."""
    names = (SERVER_KEY, config.service_key, config.operator_key)
    existing = [p for name in names for p in (public_path(keys_dir, name), secret_path(keys_dir, name)) if p.exists()]
    if existing and not force:
        raise KeysExist(f"{keys_dir} already has keys ({', '.join(p.name for p in existing)}); --force replaces "
                        "them, and every service and operator then needs the new ones")
    written = make_keypair(keys_dir, SERVER_KEY, allow=False, overwrite=force)
    for name in names[1:]:
        written += make_keypair(keys_dir, name, allow=True, overwrite=force)
    return written


def ensure_keys(config: CurveConfig) -> list[Path]:
    """The keys of `init_keys`, made on first start when none of them exist yet (the default: the operator
    plane is authenticated with no manual step); nothing when they all do. Some but not all is a folder
    someone changed by hand: refused, with what to do, rather than half replaced."""
    if not config.enabled:
        return []
    names = (SERVER_KEY, config.service_key, config.operator_key)
    present = [name for name in names if secret_path(config.keys_dir, name).exists()]
    if len(present) == len(names):
        return []
    if present:
        missing = sorted(set(names) - set(present))
        raise ConfigError(f"curve: {config.keys_dir} has keys for {', '.join(present)} but not for "
                          f"{', '.join(missing)}; restore them, or `orderpath keys init --force` to make all anew "
                          "(every service and operator then needs the new ones)")
    return init_keys(config.keys_dir, config)


def allowed_keys(keys_dir: Path) -> dict[bytes, str]:
    """Public key (Z85) → name, for every file in keys_dir/allowed; unreadable files are skipped."""
    out: dict[bytes, str] = {}
    folder = keys_dir / ALLOWED_DIR
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob(f"*{PUBLIC_SUFFIX}")):
        try:
            public, _ = zmq.auth.load_certificate(path)
        except (OSError, ValueError):
            continue
        out[public] = path.name[: -len(PUBLIC_SUFFIX)]
    return out


@dataclass(frozen=True)
class ClientKeys:
    """What a CURVE client needs: the server's public key and its own pair."""

    server_public: bytes
    public: bytes
    secret: bytes
    name: str

    def apply(self, sock: zmq.Socket) -> None:
        sock.curve_serverkey = self.server_public
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret


@dataclass(frozen=True)
class ServerKeys:
    public: bytes
    secret: bytes

    def apply(self, sock: zmq.Socket) -> None:
        sock.curve_server = True
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret


def _load(path: Path, what: str, need_secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, secret = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"curve: {what}: cannot read {path} ({exc}); start control or `orderpath up` (either "
                          "makes the keys on first start), or run `orderpath keys init`") from exc
    if need_secret and not secret:
        raise ConfigError(f"curve: {what}: {path} has no secret key")
    return public, secret


def client_keys(keys_dir: Path, name: str, key_file: Path | None = None) -> ClientKeys:
    """The pair named `name` in keys_dir (or the secret file given), with the server's public key."""
    server_public, _ = _load(public_path(keys_dir, SERVER_KEY), "the server's public key", False)
    path = key_file or secret_path(keys_dir, name)
    public, secret = _load(path, f"client key {path.name}", True)
    assert secret is not None
    return ClientKeys(server_public, public, secret, name if key_file is None else path.name.split(".")[0])


def server_keys(keys_dir: Path) -> ServerKeys:
    public, secret = _load(secret_path(keys_dir, SERVER_KEY), "the server's key pair", True)
    assert secret is not None
    return ServerKeys(public, secret)


@dataclass(frozen=True)
class CurveSettings:
    """Which sockets run CURVE in this process, with the keys they need (loaded once, at start)."""

    ops: bool
    data: bool
    keys_dir: Path
    client: ClientKeys | None
    server: ServerKeys | None

    @classmethod
    def for_service(cls, config: CurveConfig, *, binds_ops: bool) -> CurveSettings | None:
        """A service's settings: its client pair (services key) for what it connects, the server pair for
        what it binds (with curve.data every service binds something; control binds ops)."""
        if not config.enabled:
            return None
        client = client_keys(config.keys_dir, config.service_key)
        server = server_keys(config.keys_dir) if config.data or binds_ops else None
        return cls(config.ops, config.data, config.keys_dir, client, server)
