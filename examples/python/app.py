#!/usr/bin/env python3
"""An enclave app using KMS through kms-proxy with boto3.

The only proxy-specific line is the client constructor: the endpoint comes
from AWS_KMS_ENDPOINT (set by kms-proxy / Enclaver, e.g. http://127.0.0.1:9999).
The proxy attaches the enclave's attestation document to Decrypt,
GenerateDataKey, GenerateDataKeyPair, GenerateRandom and DeriveSharedSecret,
opens KMS's CiphertextForRecipient and hands back `Plaintext` as usual, so the
code below is ordinary boto3. Credentials can be anything: the proxy re-signs.

Inputs (environment):
  AWS_KMS_ENDPOINT  the proxy URL (required)
  KMS_KEY_ID        symmetric ENCRYPT_DECRYPT key for data keys
  KMS_CIPHERTEXT    base64 ciphertext (no encryption context) to decrypt
  KMS_ECDH_KEY_ID   ECC_NIST_P256 KEY_AGREEMENT key for DeriveSharedSecret
  KMS_STEPS         comma list of steps to run (default: all of
                    decrypt,datakey,random,datakeypair,derive)
Output: one line per step ("decrypt: <plaintext>", "datakey: ok 32", ...),
then "done". On an error: "error: <step>: <ErrorCode>: <message>", exit 1.

Needs: boto3 and cryptography (AES-GCM, EC keys). The SDK does not need to
know Recipient (the proxy adds it); DeriveSharedSecret needs a boto3 released
in June 2024 or later, GenerateDataKeyPair one from late 2019 on.
"""
import base64
import os
import sys

import boto3
import botocore
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

STEPS = ("decrypt", "datakey", "random", "datakeypair", "derive")
CONTEXT = {"purpose": "example"}
MESSAGE = b"hello from the enclave"


def step_decrypt(kms):
    blob = base64.b64decode(os.environ["KMS_CIPHERTEXT"])
    plaintext = kms.decrypt(CiphertextBlob=blob)["Plaintext"]
    return plaintext.decode("utf-8")


def step_datakey(kms):
    # Envelope encryption: encrypt locally with the data key, keep only the
    # wrapped key next to the data, unwrap it again later with Decrypt.
    dk = kms.generate_data_key(KeyId=os.environ["KMS_KEY_ID"], KeySpec="AES_256",
                               EncryptionContext=CONTEXT)
    nonce = os.urandom(12)
    sealed = AESGCM(dk["Plaintext"]).encrypt(nonce, MESSAGE, b"example-aad")

    key = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=CONTEXT)["Plaintext"]
    if key != dk["Plaintext"]:
        raise RuntimeError("Decrypt of the wrapped data key returned a different key")
    if AESGCM(key).decrypt(nonce, sealed, b"example-aad") != MESSAGE:
        raise RuntimeError("AES-GCM round trip failed")
    return f"ok {len(key)}"


def step_random(kms):
    data = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    return f"{len(data)} bytes"


def step_datakeypair(kms):
    pair = kms.generate_data_key_pair(KeyId=os.environ["KMS_KEY_ID"], KeyPairSpec="ECC_NIST_P256",
                                      EncryptionContext=CONTEXT)
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], password=None)
    derived_public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if derived_public != pair["PublicKey"]:
        raise RuntimeError("PrivateKeyPlaintext does not match PublicKey")
    return f"ok {pair['KeyPairSpec']}"


def step_derive(kms):
    key_id = os.environ["KMS_ECDH_KEY_ID"]
    mine = ec.generate_private_key(ec.SECP256R1())
    my_public = mine.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    secret = kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH",
                                      PublicKey=my_public)["SharedSecret"]
    # The other side of the agreement: our private key and KMS's public key.
    kms_public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    if mine.exchange(ec.ECDH(), kms_public) != secret:
        raise RuntimeError("SharedSecret differs from the locally derived secret")
    return f"ok {len(secret)}"


def main():
    kms = boto3.client("kms", endpoint_url=os.environ["AWS_KMS_ENDPOINT"])
    wanted = [s.strip() for s in os.environ.get("KMS_STEPS", ",".join(STEPS)).split(",") if s.strip()]
    needs = {"decrypt": "KMS_CIPHERTEXT", "datakey": "KMS_KEY_ID", "datakeypair": "KMS_KEY_ID",
             "derive": "KMS_ECDH_KEY_ID"}
    print(f"sdk: python boto3 {boto3.__version__} botocore {botocore.__version__}", flush=True)
    for name in STEPS:
        if name not in wanted:
            continue
        if needs.get(name) and not os.environ.get(needs[name]):
            print(f"{name}: skipped (no {needs[name]})", flush=True)
            continue
        try:
            result = globals()[f"step_{name}"](kms)
        except ClientError as e:
            err = e.response.get("Error", {})
            print(f"error: {name}: {err.get('Code')}: {err.get('Message')}", file=sys.stderr, flush=True)
            return 1
        except (BotoCoreError, RuntimeError, ValueError) as e:
            print(f"error: {name}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            return 1
        print(f"{name}: {result}", flush=True)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
