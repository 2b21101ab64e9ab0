"""Demo helper: the same Decrypt sent straight to KMS, without attestation."""
import base64
import sys

import boto3
import botocore.exceptions

kms = boto3.client("kms", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="AKIADEMOADMIN", aws_secret_access_key="demo")
try:
    kms.decrypt(CiphertextBlob=base64.b64decode(sys.argv[2]))
    print("UNEXPECTED: decrypted without attestation")
    sys.exit(1)
except botocore.exceptions.ClientError as e:
    print("denied as expected:", e.response["Error"]["Code"], "-", e.response["Error"]["Message"])
