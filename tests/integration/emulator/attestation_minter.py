"""An independent (Python) minter of Nitro-shaped attestation documents.

Written from protocol.md section 5 without the C++ code, so the emulator's
verifier is checked against a second implementation: a development PKI
(root -> intermediate -> leaf, P-384, ecdsa-with-SHA384, Nitro-like
extensions) and untagged COSE_Sign1 ES384 documents whose payload carries
module_id, digest, timestamp, pcrs, certificate, cabundle, public_key,
user_data, nonce in the real order.
"""
import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID


# ---- minimal CBOR (RFC 8949) encoder: definite lengths only -------------------

def _head(major, n):
    if n < 24:
        return bytes([(major << 5) | n])
    for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < (1 << (8 * size)):
            return bytes([(major << 5) | ai]) + n.to_bytes(size, "big")
    raise ValueError("integer too large")


def cbor(v):
    if v is None:
        return b"\xf6"
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return _head(0, v) if v >= 0 else _head(1, -1 - v)
    if isinstance(v, (bytes, bytearray)):
        return _head(2, len(v)) + bytes(v)
    if isinstance(v, str):
        b = v.encode()
        return _head(3, len(b)) + b
    if isinstance(v, list):
        return _head(4, len(v)) + b"".join(cbor(x) for x in v)
    if isinstance(v, dict):
        return _head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    raise TypeError(type(v))


# ---- development PKI -------------------------------------------------------------

def _name(cn):
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "IntegrationTest"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "AWS"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def _cert(subject_key, subject, issuer_key, issuer, not_before, not_after, ca, path_len=None):
    b = (x509.CertificateBuilder()
         .subject_name(subject).issuer_name(issuer)
         .public_key(subject_key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(not_before).not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=path_len), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False, decipher_only=False), critical=False)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False)
    return b.sign(issuer_key, hashes.SHA384())


class DevPki:
    """root -> intermediate -> leaf. `leaf_validity` = (not_before, not_after)."""

    def __init__(self, now=None, leaf_validity=None):
        now = now or datetime.datetime.now(datetime.timezone.utc)
        day = datetime.timedelta(days=1)
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.inter_key = ec.generate_private_key(ec.SECP384R1())
        root_name, inter_name = _name("it.nitro-enclaves"), _name("it-intermediate")
        self.root = _cert(self.root_key, root_name, self.root_key, root_name, now - 10 * day, now + 3650 * day, True)
        self.inter = _cert(self.inter_key, inter_name, self.root_key, root_name, now - 5 * day, now + 30 * day,
                           True, 0)
        self._inter_name = inter_name
        self.reissue_leaf(*(leaf_validity or (now - day, now + day)))

    def reissue_leaf(self, not_before, not_after):
        """A new signing leaf (fresh key) under the same intermediate."""
        self.leaf_key = ec.generate_private_key(ec.SECP384R1())
        self.leaf = _cert(self.leaf_key, _name("i-0123456789abcdef0-enc0123456789abcdef"), self.inter_key,
                          self._inter_name, not_before, not_after, False)

    def root_pem(self):
        return self.root.public_bytes(serialization.Encoding.PEM)

    def document(self, public_key_der, pcrs=None, timestamp_ms=None, user_data=None, nonce=None):
        """An untagged COSE_Sign1 attestation document."""
        all_pcrs = {i: bytes(48) for i in range(16)}
        all_pcrs.update(pcrs or {})
        payload = cbor({
            "module_id": "i-0123456789abcdef0-enc0123456789abcdef",
            "digest": "SHA384",
            "timestamp": timestamp_ms if timestamp_ms is not None else int(
                datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000),
            "pcrs": all_pcrs,
            "certificate": self.leaf.public_bytes(serialization.Encoding.DER),
            "cabundle": [self.root.public_bytes(serialization.Encoding.DER),
                         self.inter.public_bytes(serialization.Encoding.DER)],
            "public_key": public_key_der,
            "user_data": user_data,
            "nonce": nonce,
        })
        protected = bytes.fromhex("a1013822")  # {1: -35} = ES384
        to_sign = cbor(["Signature1", protected, b"", payload])
        r, s = decode_dss_signature(self.leaf_key.sign(to_sign, ec.ECDSA(hashes.SHA384())))
        signature = r.to_bytes(48, "big") + s.to_bytes(48, "big")
        return cbor([protected, {}, payload, signature])


def recipient_key():
    """An RSA-2048 key pair: (private key object, DER SPKI, PKCS#8 PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return key, spki, pem


def write_temp(directory, name, data):
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)
    return path
