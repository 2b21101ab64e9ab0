"""The seed's Python example: an enclave app that decrypts a secret through
the KMS proxy with nothing but its usual SDK."""
import base64
import os

import boto3

kms = boto3.client('kms', endpoint_url=os.environ['AWS_KMS_ENDPOINT'])
ciphertext = base64.b64decode(os.environ['DEMO_CIPHERTEXT'])
plaintext = kms.decrypt(CiphertextBlob=ciphertext)['Plaintext']
print("app decrypted:", plaintext.decode())
