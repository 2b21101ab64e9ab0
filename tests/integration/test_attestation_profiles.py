"""inspect-attestation against documents that break one rule of AWS's
verification procedure at a time, each correctly signed by a development PKI
(`kms-proxy sim-pki init`), so that only the broken rule can reject it.

The documents are built here: a small CBOR encoder, certificates from the
`cryptography` package, ES384 signatures with the PKI's keys. A control
document built the same way must verify, so a failure is the rule's.
"""
import datetime
import os
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

import harness as h
from cli_support import kp


# --- a minimal CBOR encoder (definite lengths, shortest heads) -------------

def head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for ai, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes([major << 5 | ai]) + n.to_bytes(width, "big")
    raise ValueError(n)


def uint(n):
    return head(0, n)


def bstr(b):
    return head(2, len(b)) + b


def tstr(s):
    return head(3, len(s.encode())) + s.encode()


def array(items):
    return head(4, len(items)) + b"".join(items)


def cmap(pairs):
    return head(5, len(pairs)) + b"".join(k + v for k, v in pairs)


def tag(number, item):
    return head(6, number) + item


NULL = b"\xf6"
ES384_HEADER = b"\xa1\x01\x38\x22"  # {1: -35}


# --- the development PKI and documents signed with it -----------------------

def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def certificate(cn, key, issuer, issuer_key, *, ca, bc_critical=True, key_usage="default"):
    """A P-384 certificate for `key` issued by (issuer, issuer_key); key_usage
    None leaves the extension out."""
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .issuer_name(issuer.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=bc_critical))
    if key_usage == "default":
        key_usage = "ca" if ca else "leaf"
    if key_usage is not None:
        cert_sign = key_usage == "ca"
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign,
                          crl_sign=cert_sign, encipher_only=False, decipher_only=False),
            critical=True)
    return builder.sign(issuer_key, hashes.SHA384())


def es384(key, protected, payload):
    to_sign = array([tstr("Signature1"), bstr(protected), bstr(b""), bstr(payload)])
    r, s = decode_dss_signature(key.sign(to_sign, ec.ECDSA(hashes.SHA384())))
    return r.to_bytes(48, "big") + s.to_bytes(48, "big")


class DocumentProfileTest(h.TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.pki = os.path.join(tempfile.mkdtemp(prefix="kp-profiles-"), "pki")
        r = kp("sim-pki", "init", cls.pki)
        assert r.returncode == 0, r.stderr
        cls.root = load_cert(os.path.join(cls.pki, "root.pem"))
        cls.root_key = load_key(os.path.join(cls.pki, "root.key"))
        cls.intermediate = load_cert(os.path.join(cls.pki, "intermediate.pem"))
        cls.intermediate_key = load_key(os.path.join(cls.pki, "intermediate.key"))

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(os.path.dirname(cls.pki), True)

    def document(self, *, leaf_ca=False, leaf_key_usage="default", intermediate_bc_critical=True,
                 intermediate_key_usage="default", payload_pairs=None, protected=ES384_HEADER,
                 unprotected=b"\xa0", public_key=NULL):
        """A COSE_Sign1 document: root -> (intermediate) -> leaf, all fresh
        unless the defaults apply; the payload's fields in the NSM's order."""
        chain_issuer, chain_issuer_key, bundle = self.intermediate, self.intermediate_key, []
        if intermediate_bc_critical is not True or intermediate_key_usage != "default":
            key = ec.generate_private_key(ec.SECP384R1())
            chain_issuer = certificate("intermediate", key, self.root, self.root_key, ca=True,
                                       bc_critical=intermediate_bc_critical, key_usage=intermediate_key_usage)
            chain_issuer_key = key
        bundle = [der(self.root), der(chain_issuer)]
        leaf_key = ec.generate_private_key(ec.SECP384R1())
        leaf = certificate("leaf", leaf_key, chain_issuer, chain_issuer_key, ca=leaf_ca,
                           key_usage=leaf_key_usage)
        pairs = payload_pairs(leaf, bundle) if payload_pairs else self.fields(leaf, bundle, public_key)
        payload = cmap(pairs)
        # The signed protected header is the bstr's content.
        signature = es384(leaf_key, protected, payload)
        cose = array([bstr(protected), unprotected, bstr(payload), bstr(signature)])
        path = os.path.join(self.tmp, f"doc{len(os.listdir(self.tmp))}.cbor")
        with open(path, "wb") as f:
            f.write(cose)
        return path

    @staticmethod
    def fields(leaf, bundle, public_key=NULL):
        now_ms = int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000)
        return [(tstr("module_id"), tstr("i-0123456789abcdef0-enc0123456789abcdef")),
                (tstr("digest"), tstr("SHA384")),
                (tstr("timestamp"), uint(now_ms)),
                (tstr("pcrs"), cmap([(uint(i), bstr(bytes(48))) for i in range(16)])),
                (tstr("certificate"), bstr(der(leaf))),
                (tstr("cabundle"), array([bstr(c) for c in bundle])),
                (tstr("public_key"), public_key),
                (tstr("user_data"), NULL),
                (tstr("nonce"), NULL)]

    def inspect(self, path):
        return kp("inspect-attestation", path, "--root", os.path.join(self.pki, "root.pem"))

    def assert_rejected(self, path, reason):
        r = self.inspect(path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(reason, r.stderr)

    def test_control_document_verifies(self):
        r = self.inspect(self.document())
        self.assertEqual(r.returncode, 0, r.stderr)
        # ... and so do its two variants that are allowed: a fresh intermediate
        # with the documented profile, and a public key.
        r = self.inspect(self.document(intermediate_key_usage="ca", public_key=bstr(b"k" * 32)))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_leaf_that_is_a_ca_or_may_not_sign_is_rejected(self):
        # CA:TRUE without keyCertSign: OpenSSL alone calls it no CA.
        self.assert_rejected(self.document(leaf_ca=True), "certificate (CN=leaf): is a CA certificate")
        self.assert_rejected(self.document(leaf_key_usage=None), "does not allow digitalSignature")

    def test_intermediate_without_the_ca_profile_is_rejected(self):
        self.assert_rejected(self.document(intermediate_bc_critical=False),
                             "basic constraints are not a critical CA:TRUE")
        self.assert_rejected(self.document(intermediate_key_usage=None), "does not allow keyCertSign")
        self.assert_rejected(self.document(intermediate_key_usage="leaf"), "cabundle[1] (CN=intermediate)")

    def test_tags_inside_the_document_are_rejected(self):
        def tagged_duplicate(leaf, bundle):
            # "nonce": null, then the same key again behind a tag: a reader
            # that strips tags sees another nonce.
            return self.fields(leaf, bundle) + [(tag(99, tstr("nonce")), bstr(b"N" * 16))]

        def tagged_value(leaf, bundle):
            pairs = self.fields(leaf, bundle)
            pairs[2] = (tstr("timestamp"), tag(1, pairs[2][1]))
            return pairs

        self.assert_rejected(self.document(payload_pairs=tagged_duplicate), "payload: CBOR tags are not allowed")
        self.assert_rejected(self.document(payload_pairs=tagged_value), "payload: CBOR tags are not allowed")
        self.assert_rejected(self.document(protected=b"\xa1\x01\xc1\x38\x22"), "protected header")

    def test_envelope_and_field_sizes(self):
        self.assert_rejected(self.document(unprotected=b"\xa1\x01\x26"), "unprotected header: expected an empty map")
        self.assert_rejected(self.document(unprotected=b"\xa1\x04\x41\x01"), "unprotected header")
        self.assert_rejected(self.document(public_key=bstr(b"")), "public_key: 0 bytes, expected 1..1024")


if __name__ == "__main__":
    unittest.main()
