"""Real deployment on loopback: a SuperLink and SuperNodes as separate processes, secured with TLS and
SuperNode authentication, runs submitted with `flwr run`; and a simulation on a Ray head started here.

Every process is started in its own process group and stopped by the test, whatever happens.
Flower's deployment runtime starts a fresh `flwr-clientapp` process per message and SuperNodes poll
every few seconds, so a round takes 10-20 s here: the experiments are kept to a few rounds.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from fedunlearn.cli import main
from fedunlearn.runtime.deploy import FEDERATION, LocalFederation, _bin, free_port, make_credentials

ROOT = Path(__file__).resolve().parents[1]
TINY = ("dataset='digits' model='mlp' num-clients=3 partitioner='iid' num-server-rounds=1 local-epochs=1 "
        "unlearn-rounds=1 cache-dir='' round-deadline-floor=30")  # no late-answer retries on a loaded machine: exact counts

pytestmark = pytest.mark.e2e


def _survivors(marker: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    fed = LocalFederation(tmp_path_factory.mktemp("federation"), supernodes=3)
    try:
        yield fed.start()
    finally:
        fed.stop()
        time.sleep(1)
        left = _survivors(str(fed.root))
        for p in left:
            p.kill()
        assert not left, f"processes outlived the federation: {[p.info['cmdline'] for p in left]}"


def _submit(fed: LocalFederation, run_config: str) -> subprocess.Popen:
    return subprocess.Popen([_bin("flwr"), "run", ".", FEDERATION, "--stream", "--run-config", run_config],
                            cwd=ROOT, env=fed.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _finish(proc: subprocess.Popen, timeout: float) -> str:
    try:
        return proc.communicate(timeout=timeout)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.timeout(120)
def test_supernodes_without_an_authorised_key_or_the_right_ca_are_refused(federation, tmp_path):
    other = make_credentials(tmp_path / "other", supernodes=1)
    cases = {"unregistered key": (federation.supernode_args(0, key=other.supernode_key(0)), "Failed to activate"),
             "foreign CA": (federation.supernode_args(0, root_certificates=other.ca_cert), "CERTIFICATE_VERIFY_FAILED")}
    for name, (args, expected) in cases.items():
        log = tmp_path / f"{name}.log"
        with open(log, "wb") as sink:
            proc = subprocess.Popen(args, env=federation.env, stdout=sink, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            proc.wait(timeout=60)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its SuperExec child outlives it
            except ProcessLookupError:
                pass
        out = log.read_text(errors="replace")
        assert proc.returncode != 0 and expected in out, (name, out[-1000:])
    listed = federation.flwr("supernode", "list", FEDERATION, "--format", "json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    nodes = json.loads(listed.stdout)["nodes"]
    assert len([n for n in nodes if n["status"] == "online"]) == 3  # only the three registered SuperNodes


@pytest.mark.timeout(600)
def test_client_deletion_over_tls_completes_after_the_target_supernode_is_shut_down(federation, tmp_path):
    """A whole experiment over TLS with authenticated SuperNodes (one `flwr run`: a Flower deployment round
    takes 10-20 s here, so one run serves both checks): the client to forget leaves for good once the
    original model is trained, and unlearning and the reference go on with the two SuperNodes left."""
    out = tmp_path / "client"
    proc = _submit(federation, f"{TINY} forget-client=1 unlearn-methods='finetune' out-dir='{out}'")
    try:
        deadline = time.monotonic() + 300
        while not [f for f in out.glob("checkpoints/seed-0/original-*.pt")  # the original model is trained
                   if not f.name.endswith(".round.pt")]:
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended or stalled before unlearning"
            time.sleep(0.5)
        federation.stop_process("supernode-1")  # partition-id 1: the client to forget leaves for good
        assert not _survivors("partition-id=1 num-partitions=3")
    finally:
        log = _finish(proc, 480)
    assert (out / "report.json").is_file(), log[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["request"] == {"kind": "client", "forget_client": 1}
    models = report["models"]
    assert set(models) == {"original", "retrain", "finetune"}
    assert models["original"]["cost"]["client_rounds"] == 3  # 1 round x 3 SuperNodes
    assert models["retrain"]["cost"]["client_rounds"] == 2  # the two remaining SuperNodes
    assert models["finetune"]["cost"]["client_rounds"] == 2
    assert all(m["cost"]["failures"] == 0 for m in models.values())
    assert models["original"]["metrics"]["test_acc"] > 0.2  # one round over TLS: above chance (0.1)


@pytest.mark.timeout(300)
def test_a_simulation_runs_on_an_existing_ray_cluster(tmp_path):
    port = free_port()
    head = subprocess.Popen([_bin("ray"), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2",
                             "--include-dashboard", "false", "--disable-usage-stats"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert head.poll() is None and time.monotonic() < deadline, "the Ray head did not start"
            time.sleep(0.5)
        out = tmp_path / "on-cluster"
        config = (f"{TINY} num-server-rounds=3 forget-class=3 unlearn-methods='finetune' "
                  f"ray-address='127.0.0.1:{port}'")
        assert main(["run", "--run-config", config, "--out", str(out)]) == 0
        report = json.loads((out / "report.json").read_text())
        assert report["experiment"]["ray-address"] == f"127.0.0.1:{port}"
        assert report["models"]["original"]["cost"]["client_rounds"] == 9
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
    time.sleep(2)
    assert not _survivors(f"--gcs-address=127.0.0.1:{port}") and not _survivors(f"--port {port}")
    current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"  # left by `ray start`: remove ours
    if current.exists() and current.read_text().strip().endswith(f":{port}"):
        current.unlink()


@pytest.mark.timeout(120)
def test_deploy_local_prints_what_it_started_and_stops_everything_on_sigterm(tmp_path):
    where = tmp_path / "fed"
    proc = subprocess.Popen([sys.executable, "-m", "fedunlearn", "deploy", "local", "--supernodes", "2", "--dir",
                             str(where)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    shown = []
    try:
        for line in proc.stdout:
            shown.append(line)
            if line.startswith("stop everything"):
                break
        text = "".join(shown)
        assert "TLS and SuperNode authentication" in text and "supernode-1" in text, text
        assert f"FLWR_HOME={where / 'flwr-home'} flwr run . {FEDERATION}" in text
        started = [int(line.split(" pid ")[1].split()[0]) for line in shown if line.startswith("  ")
                   and " pid " in line]
        assert len(started) == 3
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:  # SIGTERM lets it stop what it started; SIGKILL would orphan those
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(1)
    assert not [pid for pid in started if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert not _survivors(str(where))


def test_credentials_are_written_once_with_private_keys_kept_private(tmp_path, capsys):
    where = tmp_path / "creds"
    assert main(["deploy", "credentials", str(where), "--supernodes", "2", "--host", "10.0.0.5"]) == 0
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((where / "certificates" / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    for private in ("certificates/server.key", "certificates/ca.key", "keys/supernode-0", "keys/supernode-1"):
        assert (where / private).stat().st_mode & 0o077 == 0, private
    assert (where / "keys" / "supernode-1.pub").read_text().startswith("ecdsa-sha2-nistp384 ")
    assert main(["deploy", "credentials", str(where), "--supernodes", "2"]) == 2
    assert "credentials are never overwritten" in capsys.readouterr().err
