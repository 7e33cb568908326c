"""The proxy role's TLS front: a real nginx (Debian's package) started by the role with its own config and pid file,
certificates generated with community.crypto, in front of a loopback backend.

The backend here is a small stand-in for OmniRoute's HTTP surface (health, /v1/models, a streaming completion
that pauses between its events), so the front is tested alone in seconds; the fleet test runs it in front of
the real OmniRoute. The tests run in file order on one front.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import secrets
import signal
import socket
import ssl
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support import omniroute as omr

pytestmark = pytest.mark.slow

PAUSE_S = 1.5  # between the two events of the stand-in's stream

PLAY = """\
- name: The proxy role's TLS front alone
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the inputs
      ansible.builtin.include_role:
        name: omniroute.opencode.proxy
        tasks_from: tls_preflight
    - name: Run the front
      ansible.builtin.include_role:
        name: omniroute.opencode.proxy
        tasks_from: tls
    - name: Hand the facts to the test
      ansible.builtin.copy:
        content: "{{ {'ca': omniroute_proxy_ca_certificate | default(None),
                      'cert_path': omniroute_proxy_tls_certificate_path | default(None)} | to_json }}"
        dest: "{{ tls_facts_file }}"
        mode: "0600"
      when: not ansible_check_mode and omniroute_proxy_state | default('present') == 'present'
"""


class _Backend(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, body: dict, status: int = 200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        if self.path == "/api/monitoring/health":
            self._json({"status": "healthy"})
        elif self.path == "/v1/models":
            self._json({"object": "list", "data": [{"id": "m", "object": "model"}]})
        else:
            self._json({"error": "not found"}, 404)

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index, text in enumerate(("first", "second")):
            if index:
                time.sleep(PAUSE_S)
            event = f'data: {{"choices":[{{"delta":{{"content":"{text}"}}}}]}}\n\n'.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


class Front:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.name = f"omniroute-tls-{secrets.token_hex(3)}"
        self.backend = ThreadingHTTPServer(("127.0.0.1", 0), _Backend)
        self.backend.daemon_threads = True
        threading.Thread(target=self.backend.serve_forever, daemon=True).start()
        self.port = omr.free_port()
        self.config_dir = tmp / "etc"
        self.runtime_dir = tmp / "run"
        self.facts_file = tmp / "facts.json"
        self.facts: dict = {}

    @property
    def tls_dir(self) -> Path:
        return self.config_dir / "tls"

    def vars(self, **overrides) -> dict:
        values = {
            "omniroute_proxy_container_name": self.name,
            "omniroute_proxy_config_dir": str(self.config_dir),
            "omniroute_proxy_port": self.backend.server_address[1],
            "omniroute_proxy_tls_address": "127.0.0.1",
            "omniroute_proxy_tls_port": self.port,
            "omniroute_proxy_tls_server_name": "omniroute.test",
            "omniroute_proxy_tls_subject_alt_names": ["proxy.example.internal", "10.9.8.7"],
            "omniroute_proxy_tls_service": "direct",
            "omniroute_proxy_tls_runtime_dir": str(self.runtime_dir),
            "tls_facts_file": str(self.facts_file),
        }
        values.update(overrides)
        return values

    def run(self, *, check=False, **overrides):
        result = omr.ansible_playbook(PLAY, "-v", extra_vars=self.vars(**overrides), check=check, diff=check)
        out = result.stdout + result.stderr
        assert result.returncode == 0, out[-6000:]
        for key in self.tls_dir.glob("*.key") if self.tls_dir.exists() else []:
            body = "".join(key.read_text().splitlines()[1:-1])
            assert body[:40] not in out, f"{key.name} was printed"
        if not check and self.facts_file.exists():
            self.facts = json.loads(self.facts_file.read_text())
        return result, dict(_recap(result.stdout), tasks=_changed_tasks(result.stdout))

    def pid(self) -> int | None:
        pid_file = self.runtime_dir / "nginx.pid"
        return int(pid_file.read_text()) if pid_file.exists() else None

    def context(self, ca_pem: str | None = None) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=ca_pem or self.facts["ca"])

    def request(self, method, path, body=None, ca_pem=None, host="127.0.0.1"):
        conn = http.client.HTTPSConnection(host, self.port, context=self.context(ca_pem), timeout=20)
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        return conn, conn.getresponse()

    def served_certificate(self, ca_pem=None) -> x509.Certificate:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with self.context(ca_pem).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def _recap(stdout: str) -> dict:
    import re

    match = re.search(r"^localhost\s*:\s*(.*)$", stdout, re.M)
    assert match, stdout[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def _changed_tasks(stdout: str) -> list[str]:
    names, current = [], None
    for line in stdout.splitlines():
        if line.startswith("TASK ["):
            current = line[line.index("[") + 1 : line.rindex("]")]
        elif line.startswith("changed:") and current:
            names.append(current)
    return names


def _stop(pid: int | None):
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGQUIT)
    except ProcessLookupError:
        return
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    fr = Front(tmp_path_factory.mktemp("tls-front"))
    try:
        yield fr
    finally:
        _stop(fr.pid())  # only the nginx this front's pid file names
        fr.backend.shutdown()


def test_check_mode_on_a_bare_host_writes_nothing(front):
    result, recap = front.run(check=True)
    assert recap["changed"] > 0 and recap["failed"] == 0
    assert not front.config_dir.exists() and front.pid() is None


def test_first_run_generates_the_ca_and_certificate_and_starts_nginx(front):
    _, recap = front.run()
    assert recap["changed"] > 0
    assert front.pid() and Path(f"/proc/{front.pid()}").exists()
    assert stat.S_IMODE(front.tls_dir.stat().st_mode) == 0o700
    keys = sorted(p.name for p in front.tls_dir.glob("*.key"))
    assert keys == [f"{front.name}-ca.key", f"{front.name}.key"]
    for key in front.tls_dir.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_uid == 0, key
    ca_file = front.tls_dir / f"{front.name}-ca.crt"
    assert front.facts["ca"] == ca_file.read_text()
    assert front.facts["cert_path"] == str(front.tls_dir / f"{front.name}.crt")
    ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert = front.served_certificate()
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"omniroute.test", "proxy.example.internal", "localhost"} <= set(sans.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", "10.9.8.7"} <= {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    assert cert.issuer == ca.subject
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in list(eku)


def test_front_serves_v1_and_health_only_and_rejects_unknown_clients(front):
    conn, resp = front.request("GET", "/v1/models")
    assert resp.status == 200 and json.loads(resp.read())["data"][0]["id"] == "m"
    conn, resp = front.request("GET", "/api/monitoring/health")
    assert resp.status == 200
    conn, resp = front.request("GET", "/api/settings")
    assert resp.status == 404, "the management API faces the network"
    # A client without the CA cannot complete the handshake.
    with pytest.raises(ssl.SSLCertVerificationError):
        http.client.HTTPSConnection("127.0.0.1", front.port, context=ssl.create_default_context(), timeout=10).request(
            "GET", "/v1/models"
        )


def test_streaming_passes_through_unbuffered(front):
    start = time.monotonic()
    conn, resp = front.request("POST", "/v1/chat/completions", body=b'{"stream": true}')
    assert resp.status == 200
    first = resp.read1(65536)
    while b"first" not in first:
        first += resp.read1(65536)
    first_at = time.monotonic() - start
    rest = resp.read()
    total = time.monotonic() - start
    assert b"first" in first and b"second" in rest
    # The first event arrives while the backend still pauses: nothing is held back by nginx.
    assert first_at < PAUSE_S / 2 < total, (first_at, total)
    conf = (front.config_dir / f"{front.name}-nginx.conf").read_text()
    assert "proxy_read_timeout 600s;" in conf and "proxy_send_timeout 600s;" in conf


def test_second_run_and_check_mode_change_nothing(front):
    pid = front.pid()
    _, recap = front.run()
    assert recap["changed"] == 0, recap["tasks"]
    _, recap = front.run(check=True)
    assert recap["changed"] == 0, recap["tasks"]
    assert front.pid() == pid


def test_renewal_replaces_the_certificate_and_keeps_the_ca(front):
    ca_before = front.facts["ca"]
    serial_before = front.served_certificate().serial_number
    # Due within 400 days (> the 397-day validity): renew now.
    _, recap = front.run(omniroute_proxy_tls_renew_before_days=400)
    assert recap["changed"] > 0
    assert front.facts["ca"] == ca_before
    for _ in range(50):  # the reload hands over to new workers
        if front.served_certificate(ca_before).serial_number != serial_before:
            break
        time.sleep(0.1)
    assert front.served_certificate(ca_before).serial_number != serial_before
    _, recap = front.run()
    assert recap["changed"] == 0, recap["tasks"]


def _operator_pki(tmp: Path) -> tuple[str, str, str]:
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Operator test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "op")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # fmt: skip
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return leaf.public_bytes(pem).decode(), key_pem, ca.public_bytes(pem).decode()


def test_operator_certificate_replaces_the_generated_one(front):
    cert_pem, key_pem, ca_pem = _operator_pki(front.tmp)
    overrides = {"omniroute_proxy_tls_certificate": cert_pem, "omniroute_proxy_tls_private_key": key_pem,
                 "omniroute_proxy_tls_ca_certificate": ca_pem}
    result, recap = front.run(**overrides)
    assert key_pem.splitlines()[1] not in result.stdout + result.stderr
    assert recap["changed"] > 0 and front.facts["ca"].strip() == ca_pem.strip()
    key_file = front.tls_dir / f"{front.name}.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    served, error = None, None
    for _ in range(50):  # the reload hands over to new workers
        try:
            served = front.served_certificate(ca_pem)
            break
        except ssl.SSLCertVerificationError as exc:
            error = exc
            time.sleep(0.1)
    assert served is not None, error
    assert served.public_bytes(serialization.Encoding.PEM).decode() == cert_pem
    _, recap = front.run(**overrides)
    assert recap["changed"] == 0, recap["tasks"]


def test_state_absent_stops_the_front_and_keeps_the_ca(front):
    pid = front.pid()
    _, recap = front.run(omniroute_proxy_state="absent")
    assert recap["changed"] > 0
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), "nginx still runs"
    assert not (front.config_dir / f"{front.name}-nginx.conf").exists()
    assert (front.tls_dir / f"{front.name}-ca.key").exists()
