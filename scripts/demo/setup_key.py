"""Demo helper: creates an attestation-gated key on the emulator and encrypts
a secret directly (Encrypt needs no attestation). Prints the ciphertext
(base64), then the key's ARN."""
import base64
import json
import sys

import boto3

emulator_url, pcr0, secret = sys.argv[1], sys.argv[2], sys.argv[3]
kms = boto3.client("kms", endpoint_url=emulator_url, region_name="us-east-1",
                   aws_access_key_id="AKIADEMOADMIN", aws_secret_access_key="demo")
root = "arn:aws:iam::111122223333:root"
policy = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "KeyAdministration", "Effect": "Allow", "Principal": {"AWS": root},
         "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:Put*", "kms:Encrypt",
                    "kms:Enable*", "kms:Disable*", "kms:ScheduleKeyDeletion"], "Resource": "*"},
        {"Sid": "DecryptOnlyInTheEnclave", "Effect": "Allow", "Principal": {"AWS": root},
         "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:ImageSha384": pcr0}}},
    ],
}
key_id = kms.create_key(Description="demo: decrypt only in the enclave",
                        Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
ct = kms.encrypt(KeyId=key_id, Plaintext=secret.encode())["CiphertextBlob"]
print(base64.b64encode(ct).decode())
print(kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])
