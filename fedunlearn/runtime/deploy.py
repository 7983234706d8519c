"""Deployment helpers: credentials (TLS certificates, SuperNode keys) and a local federation of real
Flower processes (one SuperLink, N SuperNodes) for trying the deployment runtime on one machine.

``fedunlearn deploy credentials DIR`` writes what a real federation needs (docs/deployment.md says
where each file goes); ``fedunlearn deploy local --supernodes N`` starts everything on loopback,
secured by default, prints what it started and how to submit a run, and stops it all on exit.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

FEDERATION = "fedunlearn-local"


def _write(path: Path, data: bytes, private: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if private:
        path.chmod(0o600)
    return path


def _cert(subject: str, public_key, issuer: x509.Name, signer, *, ca: bool, hosts: tuple[str, ...] = (),
          days: int = 365) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if hosts:
        names = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = (builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    return builder.sign(signer, hashes.SHA256())


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class Credentials:
    """Paths of a federation's credentials."""

    root: Path
    supernodes: int

    @property
    def ca_cert(self) -> Path:
        return self.root / "certificates" / "ca.crt"

    @property
    def server_cert(self) -> Path:
        return self.root / "certificates" / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.root / "certificates" / "server.key"

    def supernode_key(self, i: int) -> Path:
        return self.root / "keys" / f"supernode-{i}"

    def supernode_public_key(self, i: int) -> Path:
        return self.root / "keys" / f"supernode-{i}.pub"


def make_credentials(root: str | Path, supernodes: int, hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
                     days: int = 365) -> Credentials:
    """A CA, a SuperLink certificate valid for ``hosts``, and an EC key pair (P-384, OpenSSH format) per
    SuperNode for Flower's SuperNode authentication. Private keys are readable by their owner only."""
    creds = Credentials(Path(root), supernodes)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedunlearn federation CA")])
    ca = _cert("fedunlearn federation CA", ca_key.public_key(), ca_name, ca_key, ca=True, days=days)
    server_key = ec.generate_private_key(ec.SECP384R1())
    server = _cert(hosts[0], server_key.public_key(), ca_name, ca_key, ca=False, hosts=hosts, days=days)
    _write(creds.ca_cert, ca.public_bytes(serialization.Encoding.PEM))
    _write(creds.root / "certificates" / "ca.key", _pem_key(ca_key), private=True)
    _write(creds.server_cert, server.public_bytes(serialization.Encoding.PEM))
    _write(creds.server_key, _pem_key(server_key), private=True)
    for i in range(supernodes):
        key = ec.generate_private_key(ec.SECP384R1())
        _write(creds.supernode_key(i), key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                                         serialization.NoEncryption()), private=True)
        _write(creds.supernode_public_key(i), key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + f" supernode-{i}\n".encode())
    return creds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin(name: str) -> str:
    """A Flower executable from this environment (beside the running Python), else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


@dataclass
class LocalFederation:
    """One SuperLink and ``supernodes`` SuperNodes on loopback, each in its own process group.

    Secured by default: TLS with the credentials in ``root`` and SuperNode authentication (each
    SuperNode's public key registered with ``flwr supernode register``). ``insecure=True`` turns both off.
    ``flwr run . fedunlearn-local`` submits to it with ``FLWR_HOME`` set to :attr:`flwr_home`.
    """

    root: Path
    supernodes: int
    insecure: bool = False
    port: int = 0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self.port = self.port or free_port()
        self.credentials = Credentials(self.root / "credentials", self.supernodes)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def flwr_home(self) -> Path:
        return self.root / "flwr-home"

    @property
    def env(self) -> dict[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        return dict(os.environ, FLWR_HOME=str(self.flwr_home), PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                    FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION="1")

    def node_env(self, i: int) -> dict[str, str]:
        """SuperNode ``i``'s environment: a Flower home of its own, as on a machine of its own (the apps a
        SuperNode installs from a run's FAB go there; SuperNodes sharing one would install into one folder)."""
        return dict(self.env, FLWR_HOME=str(self.root / f"supernode-{i}-home"))

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.root / "logs" / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env or self.env, cwd=self.root,
                                start_new_session=True)
        log.close()
        self.processes[name] = proc
        return proc

    def superlink_args(self) -> list[str]:
        # The app runs in this environment (torch pinned), not in one Flower would build with `uv sync`.
        args = [_bin("flower-superlink"), "--host", "127.0.0.1", "--port", str(self.port),
                "--disable-runtime-dependency-installation"]
        if self.insecure:
            return [*args, "--insecure"]
        c = self.credentials
        return [*args, "--ssl-ca-certfile", str(c.ca_cert), "--ssl-certfile", str(c.server_cert),
                "--ssl-keyfile", str(c.server_key), "--enable-supernode-auth"]

    def supernode_args(self, i: int, root_certificates: Path | None = None, key: Path | None = None) -> list[str]:
        args = [_bin("flower-supernode"), "--superlink", self.address, "--port", str(free_port()),
                "--node-config", f"partition-id={i} num-partitions={self.supernodes}", "--max-retries", "0"]
        if self.insecure:
            return [*args, "--insecure"]
        return [*args, "--root-certificates", str(root_certificates or self.credentials.ca_cert),
                "--auth-supernode-private-key", str(key or self.credentials.supernode_key(i))]

    def write_flwr_config(self) -> None:
        security = "insecure = true" if self.insecure else f'root-certificates = "{self.credentials.ca_cert}"'
        _write(self.flwr_home / "config.toml", (
            f'[superlink]\ndefault = "{FEDERATION}"\n\n[superlink.{FEDERATION}]\naddress = "{self.address}"\n'
            f"{security}\n").encode())

    def flwr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """Run the ``flwr`` CLI against this federation."""
        return subprocess.run([_bin("flwr"), *args], env=self.env, cwd=self.root, capture_output=True, text=True,
                              timeout=timeout)

    def start(self, wait: float = 60.0) -> "LocalFederation":
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        if not self.insecure:
            make_credentials(self.credentials.root, self.supernodes)
        self.write_flwr_config()
        self._spawn("superlink", self.superlink_args())
        self._wait_for_port(wait)
        if not self.insecure:
            for i in range(self.supernodes):
                self.register(self.credentials.supernode_public_key(i))
        for i in range(self.supernodes):
            self._spawn(f"supernode-{i}", self.supernode_args(i), self.node_env(i))
        return self

    def register(self, public_key: Path) -> None:
        done = self.flwr("supernode", "register", str(public_key), FEDERATION)
        if done.returncode != 0:
            raise RuntimeError(f"flwr supernode register {public_key} failed: {(done.stdout + done.stderr)[-800:]}")

    def _wait_for_port(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.processes["superlink"].poll() is not None:
                raise RuntimeError(f"flower-superlink exited; see {self.root / 'logs' / 'superlink.log'}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"flower-superlink did not open port {self.port} within {wait:.0f} s")

    def stop_process(self, name: str, grace: float = 5.0) -> None:
        """Stop one process and everything it started (its process group)."""
        proc = self.processes.pop(name, None)
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # children that outlived their parent
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        for name in [n for n in self.processes if n != "superlink"] + ["superlink"]:
            self.stop_process(name)

    def describe(self) -> str:
        lines = [f"started a local Flower federation ({'INSECURE: no TLS, no authentication' if self.insecure else 'TLS and SuperNode authentication'}):"]
        for name, proc in self.processes.items():
            lines.append(f"  {name:<12} pid {proc.pid:<7} log {self.root / 'logs' / f'{name}.log'}")
        lines += [
            f"SuperLink at {self.address}; credentials in {self.credentials.root}" if not self.insecure
            else f"SuperLink at {self.address}",
            "submit an experiment from the repository root with (a short one here; any keys, num-clients = SuperNodes):",
            f"  FLWR_HOME={self.flwr_home} flwr run . {FEDERATION} --stream --run-config "
            f"\"num-clients={self.supernodes} num-server-rounds=3 unlearn-rounds=1\"",
            "stop everything with Ctrl-C here (or: kill -TERM -PGID for each pid above)",
        ]
        return "\n".join(lines)

    def __enter__(self) -> "LocalFederation":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
