"""The KMS API through the real boto3 client against the kms-emulator binary."""
import json
import os
import sys
import unittest
import urllib.error
import urllib.request

from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator_harness import DEFAULT_ACCOUNT, Emulator, error_code, error_message  # noqa: E402

ARN_PREFIX = f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/"


class Boto3ApiTest(unittest.TestCase):
    def setUp(self):
        self.emu = Emulator()
        self.addCleanup(self.emu.stop)
        self.kms = self.emu.client()

    def assertClientError(self, code, fn, *args, **kwargs):
        with self.assertRaises(ClientError) as cm:
            fn(*args, **kwargs)
        self.assertEqual(error_code(cm.exception), code, error_message(cm.exception))
        return cm.exception

    def test_symmetric_key_lifecycle_and_encryption_context(self):
        md = self.kms.create_key(Description="it key", Tags=[{"TagKey": "t", "TagValue": "v"}])["KeyMetadata"]
        key_id = md["KeyId"]
        self.assertEqual(md["Arn"], ARN_PREFIX + key_id)
        self.assertEqual(md["KeySpec"], "SYMMETRIC_DEFAULT")
        self.assertEqual(md["KeyState"], "Enabled")
        self.assertIn("CreationDate", md)
        self.kms.create_alias(AliasName="alias/it", TargetKeyId=key_id)
        for ref in (key_id, ARN_PREFIX + key_id, "alias/it", f"arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:alias/it"):
            self.assertEqual(self.kms.describe_key(KeyId=ref)["KeyMetadata"]["KeyId"], key_id)
        aliases = self.kms.list_aliases()["Aliases"]
        self.assertEqual([a["AliasName"] for a in aliases], ["alias/it"])
        self.assertEqual([k["KeyId"] for k in self.kms.list_keys()["Keys"]], [key_id])

        ct = self.kms.encrypt(KeyId="alias/it", Plaintext=b"top secret",
                              EncryptionContext={"purpose": "it"})["CiphertextBlob"]
        out = self.kms.decrypt(CiphertextBlob=ct, EncryptionContext={"purpose": "it"})
        self.assertEqual(out["Plaintext"], b"top secret")
        self.assertEqual(out["KeyId"], ARN_PREFIX + key_id)
        self.assertClientError("InvalidCiphertextException", self.kms.decrypt, CiphertextBlob=ct)
        self.assertClientError("InvalidCiphertextException", self.kms.decrypt, CiphertextBlob=ct,
                               EncryptionContext={"purpose": "other"})

        other = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.assertClientError("IncorrectKeyException", self.kms.decrypt, CiphertextBlob=ct, KeyId=other,
                               EncryptionContext={"purpose": "it"})
        re = self.kms.re_encrypt(CiphertextBlob=ct, SourceEncryptionContext={"purpose": "it"},
                                 DestinationKeyId=other)
        self.assertEqual(self.kms.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"], b"top secret")

        self.kms.disable_key(KeyId=key_id)
        err = self.assertClientError("DisabledException", self.kms.encrypt, KeyId=key_id, Plaintext=b"x")
        self.assertEqual(error_message(err), ARN_PREFIX + key_id + " is disabled.")
        self.kms.enable_key(KeyId=key_id)
        sched = self.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        self.assertEqual(sched["KeyState"], "PendingDeletion")
        self.assertClientError("KMSInvalidStateException", self.kms.encrypt, KeyId=key_id, Plaintext=b"x")
        self.kms.delete_alias(AliasName="alias/it")
        self.assertClientError("NotFoundException", self.kms.describe_key, KeyId="alias/it")

    def test_data_keys_and_random(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        material = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
        self.assertRegex(material, r"^[0-9a-f]{64}$")
        dk = self.kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext={"a": "b"})
        self.assertEqual(len(dk["Plaintext"]), 32)
        self.assertEqual(dk["KeyMaterialId"], material)
        dec = self.kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"a": "b"})
        self.assertEqual(dec["Plaintext"], dk["Plaintext"])
        self.assertEqual(dec["KeyMaterialId"], material)
        np = self.kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=64)
        self.assertNotIn("Plaintext", np)
        self.assertEqual(len(self.kms.decrypt(CiphertextBlob=np["CiphertextBlob"])["Plaintext"]), 64)
        pair = self.kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
        priv = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], password=None)
        self.assertEqual(priv.public_key().public_bytes(serialization.Encoding.DER,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo),
                         pair["PublicKey"])
        self.assertEqual(self.kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"],
                         pair["PrivateKeyPlaintext"])
        self.assertEqual(len(self.kms.generate_random(NumberOfBytes=1024)["Plaintext"]), 1024)
        err = self.assertClientError("ValidationException", self.kms.generate_random, NumberOfBytes=1025)
        self.assertEqual(error_message(err),
                         "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy "
                         "constraint: Member must have value less than or equal to 1024")

    def test_rsa_and_key_agreement_keys(self):
        rsa_id = self.kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
        pub = serialization.load_der_public_key(self.kms.get_public_key(KeyId=rsa_id)["PublicKey"])
        # Encrypt locally with the public key (as KMS users do), decrypt in KMS.
        ct = pub.encrypt(b"offline", padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                  label=None))
        out = self.kms.decrypt(KeyId=rsa_id, CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        self.assertEqual(out["Plaintext"], b"offline")
        ct1 = self.kms.encrypt(KeyId=rsa_id, Plaintext=b"sha1", EncryptionAlgorithm="RSAES_OAEP_SHA_1")
        self.assertEqual(self.kms.decrypt(KeyId=rsa_id, CiphertextBlob=ct1["CiphertextBlob"],
                                          EncryptionAlgorithm="RSAES_OAEP_SHA_1")["Plaintext"], b"sha1")

        ecdh_id = self.kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
        kms_pub = serialization.load_der_public_key(self.kms.get_public_key(KeyId=ecdh_id)["PublicKey"])
        peer = ec.generate_private_key(ec.SECP256R1())
        peer_der = peer.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        shared = self.kms.derive_shared_secret(KeyId=ecdh_id, KeyAgreementAlgorithm="ECDH",
                                               PublicKey=peer_der)["SharedSecret"]
        self.assertEqual(shared, peer.exchange(ec.ECDH(), kms_pub))

    def test_tags_and_tag_based_policy(self):
        # ABAC: Decrypt only while the key carries env=prod (aws:ResourceTag).
        root = f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"
        policy = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": root}, "NotAction": "kms:Decrypt",
             "Resource": "*"},
            {"Sid": "ProdDecrypt", "Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:Decrypt",
             "Resource": "*", "Condition": {"StringEquals": {"aws:ResourceTag/env": "prod"}}}]})
        key_id = self.kms.create_key(Policy=policy, Tags=[{"TagKey": "env", "TagValue": "dev"}])["KeyMetadata"]["KeyId"]
        ct = self.kms.encrypt(KeyId=key_id, Plaintext=b"abac")["CiphertextBlob"]
        self.assertClientError("AccessDeniedException", self.kms.decrypt, CiphertextBlob=ct)
        self.kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "env", "TagValue": "prod"},
                                                  {"TagKey": "team", "TagValue": "a"}])
        self.assertEqual(self.kms.list_resource_tags(KeyId=key_id)["Tags"],
                         [{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "a"}])
        self.assertEqual(self.kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"abac")
        self.kms.untag_resource(KeyId=key_id, TagKeys=["env"])
        self.assertEqual(self.kms.list_resource_tags(KeyId=key_id)["Tags"], [{"TagKey": "team", "TagValue": "a"}])
        self.assertClientError("AccessDeniedException", self.kms.decrypt, CiphertextBlob=ct)
        self.assertClientError("TagException", self.kms.tag_resource, KeyId=key_id,
                               Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}])
        # What a key-reading tool (Terraform's aws_kms_key) asks besides DescribeKey and tags.
        self.assertFalse(self.kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"])
        self.assertEqual(self.kms.list_grants(KeyId=key_id)["Grants"], [])

    def test_sign_and_verify(self):
        # Signatures checked with the cryptography package against GetPublicKey.
        message = b"release manifest"
        for spec, alg, check in (
                ("ECC_NIST_P256", "ECDSA_SHA_256", lambda pub, sig: pub.verify(sig, message, ec.ECDSA(hashes.SHA256()))),
                ("ECC_SECG_P256K1", "ECDSA_SHA_256", lambda pub, sig: pub.verify(sig, message, ec.ECDSA(hashes.SHA256()))),
                ("RSA_2048", "RSASSA_PSS_SHA_384", lambda pub, sig: pub.verify(
                    sig, message, padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48), hashes.SHA384())),
                ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", lambda pub, sig: pub.verify(
                    sig, message, padding.PKCS1v15(), hashes.SHA256()))):
            with self.subTest(spec=spec, alg=alg):
                key_id = self.kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
                pub = serialization.load_der_public_key(self.kms.get_public_key(KeyId=key_id)["PublicKey"])
                sig = self.kms.sign(KeyId=key_id, Message=message, SigningAlgorithm=alg)["Signature"]
                check(pub, sig)  # raises InvalidSignature if wrong
                self.assertTrue(self.kms.verify(KeyId=key_id, Message=message, Signature=sig,
                                                SigningAlgorithm=alg)["SignatureValid"])
                self.assertClientError("KMSInvalidSignatureException", self.kms.verify, KeyId=key_id,
                                       Message=message + b"!", Signature=sig, SigningAlgorithm=alg)

    def test_typed_policy_conditions(self):
        # A minimum deletion window (NumericGreaterThanEquals) and TLS-only use
        # (Bool aws:SecureTransport): this emulator speaks plain HTTP, so
        # Encrypt is denied (test_emulator_tls.py shows it allowed over HTTPS).
        root = f"arn:aws:iam::{DEFAULT_ACCOUNT}:root"
        policy = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": root},
             "Action": ["kms:PutKeyPolicy", "kms:DescribeKey"], "Resource": "*"},
            {"Sid": "TlsOnly", "Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:Encrypt",
             "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
            {"Sid": "SlowDeletion", "Effect": "Allow", "Principal": {"AWS": root},
             "Action": "kms:ScheduleKeyDeletion", "Resource": "*",
             "Condition": {"NumericGreaterThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": 28}}}]})
        key_id = self.kms.create_key(Policy=policy)["KeyMetadata"]["KeyId"]
        self.assertClientError("AccessDeniedException", self.kms.encrypt, KeyId=key_id, Plaintext=b"x")
        self.assertClientError("AccessDeniedException", self.kms.schedule_key_deletion, KeyId=key_id,
                               PendingWindowInDays=7)
        out = self.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=28)
        self.assertEqual(out["KeyState"], "PendingDeletion")

    def test_errors_have_kms_shapes(self):
        err = self.assertClientError("ValidationException", self.kms.create_key, KeySpec="RSA_2048")
        self.assertIn("KeyUsage", error_message(err))
        err = self.assertClientError("UnsupportedOperationException", self.kms.generate_mac, KeyId="alias/x",
                                     Message=b"m", MacAlgorithm="HMAC_SHA_256")
        self.assertEqual(error_message(err), "kms-emulator does not implement GenerateMac")
        err = self.assertClientError("NotFoundException", self.kms.describe_key,
                                     KeyId="11111111-2222-4333-8444-555555555555")
        self.assertEqual(error_message(err), "Key '" + ARN_PREFIX +
                         "11111111-2222-4333-8444-555555555555' does not exist")
        self.assertEqual(err.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertTrue(err.response["ResponseMetadata"]["RequestId"])
        self.assertClientError("AlreadyExistsException", self._dup_alias)

    def test_missing_ciphertext_and_dry_run_validation(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        other = self.kms.create_key()["KeyMetadata"]["KeyId"]
        err = self.assertClientError("ValidationException", self.kms.decrypt, KeyId=key_id)
        self.assertIn("'ciphertextBlob'", error_message(err))
        self.assertClientError("ValidationException", self.kms.re_encrypt, DestinationKeyId=other)
        ignore = {"DryRun": True, "DryRunModifiers": ["IGNORE_CIPHERTEXT"]}
        err = self.assertClientError("DryRunOperationException", self.kms.decrypt, KeyId=key_id, **ignore)
        self.assertEqual(err.response["ResponseMetadata"]["HTTPStatusCode"], 412)
        self.assertClientError("DryRunOperationException", self.kms.re_encrypt, SourceKeyId=key_id,
                               DestinationKeyId=other, **ignore)

        ct = bytearray(self.kms.encrypt(KeyId=key_id, Plaintext=b"p", EncryptionContext={"a": "1"})["CiphertextBlob"])
        self.assertClientError("DryRunOperationException", self.kms.decrypt, CiphertextBlob=bytes(ct),
                               EncryptionContext={"a": "1"}, DryRun=True)
        self.assertClientError("InvalidCiphertextException", self.kms.decrypt, CiphertextBlob=bytes(ct),
                               EncryptionContext={"a": "2"}, DryRun=True)
        ct[-1] ^= 1
        self.assertClientError("InvalidCiphertextException", self.kms.decrypt, CiphertextBlob=bytes(ct),
                               EncryptionContext={"a": "1"}, DryRun=True)
        self.assertClientError("DryRunOperationException", self.kms.decrypt, CiphertextBlob=bytes(ct),
                               KeyId=key_id, **ignore)

    def test_alias_names_and_targets(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        err = self.assertClientError("ValidationException", self.kms.create_alias, AliasName="alias/a:b",
                                     TargetKeyId=key_id)
        self.assertEqual(error_message(err), "alias/a:b contains invalid characters for an alias")
        self.kms.create_alias(AliasName="alias/x", TargetKeyId=key_id)
        for call in (self.kms.create_alias, self.kms.update_alias):
            name = "alias/y" if call == self.kms.create_alias else "alias/x"
            err = self.assertClientError("ValidationException", call, AliasName=name, TargetKeyId="alias/x")
            self.assertEqual(error_message(err), "Aliases must refer to keys. Not aliases")

    def test_null_list_element_is_a_client_error(self):
        body = json.dumps({"Tags": [None]}).encode()
        req = urllib.request.Request(self.emu.endpoint + "/", data=body, method="POST", headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.CreateKey"})
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(cm.exception.code, 400)
        self.assertEqual(json.loads(cm.exception.read())["__type"], "SerializationException")
        self.assertEqual(self.kms.list_keys()["Keys"], [])

    def _dup_alias(self):
        key_id = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.kms.create_alias(AliasName="alias/dup", TargetKeyId=key_id)
        self.kms.create_alias(AliasName="alias/dup", TargetKeyId=key_id)


if __name__ == "__main__":
    unittest.main()
