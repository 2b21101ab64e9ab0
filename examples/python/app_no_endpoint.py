#!/usr/bin/env python3
"""The same boto3 app with no endpoint code at all.

`kms-proxy run -- CMD` also exports AWS_ENDPOINT_URL_KMS, the
service-specific endpoint variable that botocore reads since late 2023
(verified with botocore 1.43.11), so a plain `boto3.client("kms")` already
talks to the proxy. Nothing in this file knows about the proxy.

Inputs (both required): KMS_CIPHERTEXT (base64, no encryption context),
KMS_KEY_ID. Unlike the other examples it runs these three steps only and
ignores KMS_STEPS: its point is the endpoint.
Output: "endpoint: <url>", "decrypt: <plaintext>", "datakey: ok 32",
"random: 32 bytes", "done"; on an error "error: <step>: <code>: <message>".
"""
import base64
import os
import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def main():
    kms = boto3.client("kms")
    print(f"endpoint: {kms.meta.endpoint_url}", flush=True)
    if os.environ.get("AWS_ENDPOINT_URL_KMS") and kms.meta.endpoint_url.endswith(".amazonaws.com"):
        print("warning: this botocore ignores AWS_ENDPOINT_URL_KMS; upgrade it or pass endpoint_url",
              file=sys.stderr, flush=True)
    step = "decrypt"
    try:
        blob = base64.b64decode(os.environ["KMS_CIPHERTEXT"])
        print("decrypt: " + kms.decrypt(CiphertextBlob=blob)["Plaintext"].decode(), flush=True)

        step = "datakey"
        dk = kms.generate_data_key(KeyId=os.environ["KMS_KEY_ID"], KeySpec="AES_256")
        nonce = os.urandom(12)
        sealed = AESGCM(dk["Plaintext"]).encrypt(nonce, b"hello", None)
        key = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"]
        if AESGCM(key).decrypt(nonce, sealed, None) != b"hello":
            raise RuntimeError("AES-GCM round trip failed")
        print(f"datakey: ok {len(key)}", flush=True)

        step = "random"
        print(f"random: {len(kms.generate_random(NumberOfBytes=32)['Plaintext'])} bytes", flush=True)
    except ClientError as e:
        err = e.response["Error"]
        print(f"error: {step}: {err.get('Code')}: {err.get('Message')}", file=sys.stderr, flush=True)
        return 1
    except BotoCoreError as e:  # e.g. nothing listening at the endpoint
        print(f"error: {step}: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        return 1
    except KeyError as e:  # a required input is not set
        print(f"error: {step}: missing environment variable {e.args[0]}", file=sys.stderr, flush=True)
        return 1
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
