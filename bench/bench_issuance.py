"""Issuance rate: the local HSM issuer against signing alone in memory.

The station's issuer checks the CSR again, refuses clones, signs on the
SoftHSM2 token (one owner, hash then CKM_ECDSA) and commits the record with
synchronous=FULL. The peer builds the very same certificate and signs it with
a key in memory, no checks and no store: the floor the issuer cannot beat.

Run: .venv/bin/python bench/bench_issuance.py [--count N]
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ca_client.issuer import DeviceRequest
from ca_client.local_hsm import LocalHsmIssuer
from pki import CaStore, DeviceIdentity, ProductLine, Publication, init_dev_pki
from pki.device_profile import device_certificate
from pki.validity import Validity

PRODUCT_LINE = ProductLine(
    organization="Bench Devices",
    models={"AMB82": 1},
    validity_days=3650,
    min_validity_days=365,
    publication=Publication(base_url="http://127.0.0.1:8480"),
)


def _requests(count: int) -> list[tuple[DeviceRequest, ec.EllipticCurvePublicKey]]:
    requests = []
    for n in range(count):
        serial = f"BENCH{n:07d}"
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, serial),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
            ]
        )
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject)
        der = csr.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)
        mac = f"02:00:00:00:{n >> 8 & 0xFF:02x}:{n & 0xFF:02x}"
        request = DeviceRequest(
            csr_der=der, serial=serial, mac=mac, model="AMB82", lot="BENCH"
        )
        requests.append((request, key.public_key()))
    return requests


def _issuer_rate(
    folder: Path, requests: list[tuple[DeviceRequest, ec.EllipticCurvePublicKey]]
) -> float:
    pki = init_dev_pki(folder / "pki")
    store = CaStore.open_sqlite(folder / "ca-store.sqlite")
    issuer = LocalHsmIssuer.open(pki.issuing, store=store, product_line=PRODUCT_LINE)
    started = time.perf_counter()
    for request, _ in requests:
        issuer.issue(request)
    elapsed = time.perf_counter() - started
    issuer.close()
    store.close()
    return len(requests) / elapsed


def _in_memory_rate(
    requests: list[tuple[DeviceRequest, ec.EllipticCurvePublicKey]],
) -> float:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Peer CA")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Peer CA")]))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3700))
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    validity = Validity(not_before=now, not_after=now + datetime.timedelta(days=3650))
    started = time.perf_counter()
    for n, (request, public_key) in enumerate(requests):
        identity = DeviceIdentity(
            serial=request.serial, mac=request.mac, model="AMB82", lot="BENCH"
        )
        builder = device_certificate(
            identity=identity,
            public_key=public_key,
            product_line=PRODUCT_LINE,
            issuer=ca,
            validity=validity,
            serial_number=n + 1,
        )
        builder.sign(ca_key, hashes.SHA256())
    return len(requests) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    args = parser.parse_args()

    requests = _requests(args.count)
    with tempfile.TemporaryDirectory() as folder:
        issuer = _issuer_rate(Path(folder), requests)
    peer = _in_memory_rate(requests)

    print(f"issuance, {args.count} device certificates")
    print(f"  local HSM issuer (checks, token, store): {issuer:8.0f} certificates/s")
    print(f"  peer: same profile, key in memory:       {peer:8.0f} certificates/s")
    print(f"  issuer at {100 * issuer / peer:.0f}% of the peer's rate")


if __name__ == "__main__":
    main()
