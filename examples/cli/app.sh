#!/bin/sh
# An enclave app using KMS through kms-proxy with the aws CLI.
#
# The only proxy-specific part is `--endpoint-url "$AWS_KMS_ENDPOINT"`
# (kms-proxy / Enclaver set it, e.g. http://127.0.0.1:9999). Under
# `kms-proxy run`, a CLI recent enough to read AWS_ENDPOINT_URL_KMS (late 2023
# on; verified with aws-cli 1.45.11) needs not even that flag. The proxy attaches the enclave's
# attestation document to Decrypt, GenerateDataKey, GenerateDataKeyPair,
# GenerateRandom and DeriveSharedSecret, opens KMS's CiphertextForRecipient and
# returns `Plaintext` as usual. Credentials can be anything: the proxy re-signs.
#
# Blobs: input blobs go in as files (fileb://), output blobs come out base64.
# `openssl enc` cannot do AES-GCM, so the data key is used through
# `openssl cms -aes-256-gcm -secretkey`: AES-256-GCM content encryption under
# a content key wrapped with the data key (AES key wrap). Note that a key given
# on a command line is visible in /proc to other processes of the same user.
#
# Inputs (environment): AWS_KMS_ENDPOINT (required), AWS_DEFAULT_REGION,
# KMS_KEY_ID (symmetric key for data keys), KMS_CIPHERTEXT (base64, no
# encryption context), KMS_ECDH_KEY_ID (ECC_NIST_P256 KEY_AGREEMENT key),
# KMS_STEPS (comma list, default decrypt,datakey,random,datakeypair,derive).
# Output: one line per step ("decrypt: <plaintext>", "datakey: ok 32", ...),
# then "done"; on an error "error: <step>: <ErrorCode>: <message>", exit 1.
# Needs: aws CLI, openssl (3.x), base64, od, cmp.
set -eu

: "${AWS_KMS_ENDPOINT:?set AWS_KMS_ENDPOINT to the kms-proxy URL}"
STEPS="${KMS_STEPS:-decrypt,datakey,random,datakeypair,derive}"

umask 077
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT INT TERM
STEP=""

# kms OPERATION ARGS...: one KMS call through the proxy, output as text.
kms() {
  if ! aws kms "$@" --endpoint-url "$AWS_KMS_ENDPOINT" --output text 2>"$WORK/err"; then
    # "An error occurred (Code) when calling the Op operation: message"
    detail=$(sed -E -n 's/.*An error occurred \(([^)]*)\) when calling the [A-Za-z]+ operation( \(reached max retries: [0-9]+\))?: (.*)/\1: \3/p' "$WORK/err")
    [ -n "$detail" ] || detail=$(tr -s '\n' ' ' <"$WORK/err" | sed 's/^ *//; s/ *$//')
    echo "error: $STEP: $detail" >&2
    exit 1
  fi
}

fail() {
  echo "error: $STEP: $*" >&2
  exit 1
}

wants() {
  case ",$STEPS," in *",$1,"*) return 0 ;; esac
  return 1
}

has() {
  eval "[ -n \"\${$2:-}\" ]" && return 0
  echo "$1: skipped (no $2)"
  return 1
}

hex() { od -An -v -tx1 | tr -d ' \n'; }

echo "sdk: $(aws --version 2>&1)"

if wants decrypt && has decrypt KMS_CIPHERTEXT; then
  STEP=decrypt
  printf %s "$KMS_CIPHERTEXT" | base64 -d >"$WORK/ct.bin"
  plaintext_b64=$(kms decrypt --ciphertext-blob "fileb://$WORK/ct.bin" --query Plaintext)
  echo "decrypt: $(printf %s "$plaintext_b64" | base64 -d)"
fi

if wants datakey && has datakey KMS_KEY_ID; then
  # Envelope encryption: encrypt locally with the data key, keep only the
  # wrapped key next to the data, unwrap it again later with Decrypt.
  STEP=datakey
  out=$(kms generate-data-key --key-id "$KMS_KEY_ID" --key-spec AES_256 \
    --encryption-context purpose=example --query '[Plaintext,CiphertextBlob]')
  key_hex=$(printf %s "$out" | cut -f1 | base64 -d | hex)
  printf %s "$out" | cut -f2 | base64 -d >"$WORK/datakey.wrapped"
  printf 'hello from the enclave' >"$WORK/message.txt"
  openssl cms -encrypt -aes-256-gcm -secretkey "$key_hex" -secretkeyid 01 -binary \
    -in "$WORK/message.txt" -outform DER -out "$WORK/message.cms" || fail "openssl cms -encrypt failed"

  again=$(kms decrypt --ciphertext-blob "fileb://$WORK/datakey.wrapped" \
    --encryption-context purpose=example --query Plaintext)
  again_hex=$(printf %s "$again" | base64 -d | hex)
  [ "$again_hex" = "$key_hex" ] || fail "Decrypt of the wrapped data key returned a different key"
  openssl cms -decrypt -secretkey "$again_hex" -secretkeyid 01 -binary \
    -in "$WORK/message.cms" -inform DER -out "$WORK/message.out" || fail "openssl cms -decrypt failed"
  cmp -s "$WORK/message.txt" "$WORK/message.out" || fail "AES-GCM round trip failed"
  echo "datakey: ok $(printf %s "$again" | base64 -d | wc -c)"
fi

if wants random; then
  STEP=random
  random=$(kms generate-random --number-of-bytes 32 --query Plaintext)
  echo "random: $(printf %s "$random" | base64 -d | wc -c) bytes"
fi

if wants datakeypair && has datakeypair KMS_KEY_ID; then
  STEP=datakeypair
  out=$(kms generate-data-key-pair --key-id "$KMS_KEY_ID" --key-pair-spec ECC_NIST_P256 \
    --encryption-context purpose=example --query '[PrivateKeyPlaintext,PublicKey,KeyPairSpec]')
  printf %s "$out" | cut -f1 | base64 -d >"$WORK/pair.key.der"
  printf %s "$out" | cut -f2 | base64 -d >"$WORK/pair.pub.der"
  openssl pkey -inform DER -in "$WORK/pair.key.der" -pubout -outform DER -out "$WORK/derived.pub.der" ||
    fail "PrivateKeyPlaintext is not a PKCS#8 private key"
  cmp -s "$WORK/pair.pub.der" "$WORK/derived.pub.der" || fail "PrivateKeyPlaintext does not match PublicKey"
  echo "datakeypair: ok $(printf %s "$out" | cut -f3)"
fi

if wants derive && has derive KMS_ECDH_KEY_ID; then
  STEP=derive
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/mine.pem" 2>/dev/null
  openssl pkey -in "$WORK/mine.pem" -pubout -outform DER -out "$WORK/mine.pub.der"
  secret=$(kms derive-shared-secret --key-id "$KMS_ECDH_KEY_ID" --key-agreement-algorithm ECDH \
    --public-key "fileb://$WORK/mine.pub.der" --query SharedSecret)
  printf %s "$secret" | base64 -d >"$WORK/secret.bin"
  # The other side of the agreement: our private key and KMS's public key.
  theirs=$(kms get-public-key --key-id "$KMS_ECDH_KEY_ID" --query PublicKey)
  printf %s "$theirs" | base64 -d >"$WORK/theirs.pub.der"
  openssl pkeyutl -derive -inkey "$WORK/mine.pem" -peerkey "$WORK/theirs.pub.der" -peerform DER \
    -out "$WORK/local.bin" || fail "local ECDH failed"
  cmp -s "$WORK/secret.bin" "$WORK/local.bin" || fail "SharedSecret differs from the locally derived secret"
  echo "derive: ok $(wc -c <"$WORK/secret.bin")"
fi

echo "done"
