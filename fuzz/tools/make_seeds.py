#!/usr/bin/env python3
"""Regenerates fuzz/corpus/<target>/ seed files.

Copied seeds come from the public vectors (../shared/vectors, see
fuzz/corpus/README.md for their origin and licences) and from this repo's own
src/config/testdata; hand-made seeds are named by what they test.
Usage: fuzz/tools/make_seeds.py [--vectors DIR]   (writes under fuzz/corpus/)
       fuzz/tools/make_seeds.py --check [--vectors DIR]
           (writes into a temporary directory and exits 1 if the committed
           corpus differs from it: a ctest, so hand-added seeds live here)
Deterministic: running it twice produces identical files.
"""
import argparse
import base64
import json
import os
import pathlib
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fuzz" / "corpus"


TARGETS = ["cbor_decode", "attestation_document", "cms_parse", "kms_rewrite", "sigv4_authorization",
           "config_yaml", "http_request", "policy_document", "emulator_request",
           "credentials_document"]


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def copy(target, name, src):
    put(target, name, pathlib.Path(src).read_bytes())


# --- cbor_decode ------------------------------------------------------------
def cbor_seeds(vec):
    docs = vec / "attestation_docs"
    copy("cbor_decode", "vec_fastcrypto_fixed_valid.cose", docs / "fastcrypto_fixed_valid_2024-11-14.cose.bin")
    copy("cbor_decode", "vec_fastcrypto_pcr16_indefmap.cose", docs / "fastcrypto_pcr16_indefmap_2025-11-10.cose.bin")
    hand = {
        # RFC 8949 Appendix A shapes
        "uint64_max": "1bffffffffffffffff",
        "negative_min": "3bffffffffffffffff",
        "bignum_tag2": "c249010000000000000000",
        "half_float_one": "f93c00",
        "half_float_nan": "f97e00",
        "single_float_inf": "fa7f800000",
        "double_float": "fb3ff199999999999a",
        "simple_255": "f8ff",
        "undefined": "f7",
        "indef_bytes": "5f42010243030405ff",
        "indef_text": "7f657374726561646d696e67ff",
        "indef_array_nested": "9f018202039f0405ffff",
        "indef_map": "bf6346756ef563416d7421ff",
        "map_text_keys": "a56161614161626142616361436164614461656145",
        "cose_sign1_tagged_empty": "d28440a0f640",
        # must be rejected
        "err_duplicate_key": "a201010102",
        "err_trailing_byte": "0000",
        "err_reserved_ai_28": "1c",
        "err_break_outside": "ff",
        "err_huge_declared_bstr": "5bffffffffffffffff00",
        "err_huge_declared_array": "9bffffffffffffffff",
        "err_invalid_utf8": "62c328",
        "err_nested_indef_chunk": "5f5f4100ffff",
        "err_chunk_wrong_type": "5f6161ff",
        "err_two_byte_simple_low": "f810",
        "err_truncated_uint": "1a0102",
        "deep_nesting_20": "81" * 20 + "00",
        "tag_chain": "c1c2c3c4c5c6c7c8c9ca00",
        "many_items": "98ff" + "00" * 255,
    }
    for name, hx in hand.items():
        put("cbor_decode", name, bytes.fromhex(hx))


# --- attestation_document -----------------------------------------------------
def attestation_seeds(vec):
    docs = vec / "attestation_docs"
    for f in sorted(docs.glob("*.cose.bin")):
        copy("attestation_document", "vec_" + f.name.replace(".cose.bin", ".cose"), f)
    copy("attestation_document", "vec_evervault_ga_debug.b64", docs / "evervault_ga_debug_2023-09-18.cose.b64")
    copy("attestation_document", "vec_fastcrypto_fixed_valid.hex", docs / "fastcrypto_fixed_valid_2024-11-14.cose.hex")
    raw = (docs / "fastcrypto_fixed_valid_2024-11-14.cose.bin").read_bytes()
    put("attestation_document", "tagged_cose_sign1", b"\xd2" + raw)
    put("attestation_document", "truncated_half", raw[: len(raw) // 2])
    put("attestation_document", "hex_0x_prefixed_lines",
        "0x" + "\n".join(raw.hex()[i:i + 64] for i in range(0, len(raw.hex()), 64)))
    put("attestation_document", "base64url_unpadded", base64.urlsafe_b64encode(raw).rstrip(b"="))
    put("attestation_document", "empty_cose_array", bytes.fromhex("84 40 a0 40 40".replace(" ", "")))
    put("attestation_document", "alg_es256_instead_of_es384", bytes.fromhex("8443a10126a0f65860" + "00" * 96))


# --- cms_parse ------------------------------------------------------------------
def cms_seeds(vec):
    cfr = vec / "ciphertext_for_recipient"
    for d in sorted(p for p in cfr.iterdir() if p.is_dir()):
        copy("cms_parse", "vec_" + d.name + ".ber", d / "ciphertext_for_recipient.ber")
    ber = (cfr / "enclaver_hello_world" / "ciphertext_for_recipient.ber").read_bytes()
    put("cms_parse", "truncated_at_recipient", ber[:120])
    put("cms_parse", "empty_sequence", bytes.fromhex("3000"))
    put("cms_parse", "indefinite_never_closed", bytes.fromhex("3080308006092a864886f70d010703a080"))
    put("cms_parse", "length_over_input", bytes.fromhex("3084ffffffff"))
    # 0xA5 prefix: the harness also seals these bytes to the test key and opens them
    put("cms_parse", "seal_roundtrip_hello", b"\xa5Hello, World")
    put("cms_parse", "seal_roundtrip_block_sized", b"\xa5" + bytes(range(15)))


# --- kms_rewrite ----------------------------------------------------------------
def kms_seeds(vec):
    cfr = (vec / "ciphertext_for_recipient" / "enclaver_hello_world" / "ciphertext_for_recipient.b64").read_text().strip()
    hand = {
        "decrypt_request": '{"CiphertextBlob":"AQIDBAUGBwg=","KeyId":"alias/app"}',
        "generate_data_key_request": '{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd","KeySpec":"AES_256"}',
        "empty_object": "{}",
        "whitespace_around_object": " \r\n\t{ \"KeyId\" : \"k\" } \n",
        "already_has_recipient": '{"KeyId":"k","Recipient":{"KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256","AttestationDocument":"AAAA"}}',
        "escaped_recipient_key": '{"Recip\\u0069ent":{},"KeyId":"k"}',
        "nested_recipient_only": '{"Outer":{"Recipient":1}}',
        "duplicate_keys": '{"KeyId":"a","KeyId":"b"}',
        "not_an_object_array": '[{"Recipient":1}]',
        "not_json_trailing_comma": '{"KeyId":"k",}',
        "deep_nesting_40": '{"a":' * 40 + "1" + "}" * 40,
        "numbers_edge": '{"a":-0,"b":1e308,"c":18446744073709551615,"d":-9223372036854775808,"e":1.5e-320}',
        "unicode_escapes": '{"k":"\\ud83d\\ude00\\u0000"}',
        "decrypt_response_with_cfr": '{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/k","CiphertextForRecipient":"%s","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}' % cfr,
        "response_plaintext_null": '{"Plaintext":null,"CiphertextForRecipient":"AQID","KeyId":"k"}',
        "response_cfr_not_string": '{"CiphertextForRecipient":123}',
        "response_cfr_bad_base64": '{"CiphertextForRecipient":"A==="}',
        "response_cfr_stub_refuses": '{"CiphertextForRecipient":"/wAA"}',
        "error_body_prefixed_type": '{"__type":"com.amazonaws.kms#NotFoundException","message":"Key not found"}',
        "error_body_colon_type": '{"__type":"ThrottlingException:http://internal.amazon.com/","Message":"Rate exceeded"}',
        "target_decrypt": "TrentService.Decrypt",
        "target_lowercase_gdkp": "trentservice.generatedatakeypair",
        "target_no_dot": "TrentServiceDecrypt",
        # "Recipient": null counts as absent (KMS reads it so); escaped and duplicate names
        "null_recipient": '{"Recipient": null ,"KeyId":"k","Recipi\\u0065nt":null}',
        "null_then_own_recipient": '{"Recipient":null,"Recipient":{"AttestationDocument":"AA=="}}',
    }
    for name, body in hand.items():
        put("kms_rewrite", name, body)


# --- sigv4_authorization ------------------------------------------------------
def fdp_string(s):
    """A FuzzedDataProvider ConsumeRandomLengthString() field: '\\' doubled, '\\' + 'x' ends it."""
    return s.replace(b"\\", b"\\\\") + b"\\x"


def sigv4_seed(authz, method, target, headers, body):
    """Lays out bytes so the harness reads exactly these values (front: strings
    and the body; back: the integral choices, consumed from the end)."""
    front = fdp_string(authz)
    back = []  # in consumption order; appended reversed at the end
    if method == b"POST":
        back.append(1)
    else:
        back.append(0)
        front += fdp_string(method)
    front += fdp_string(target)
    back.append(len(headers))  # ConsumeIntegralInRange(0, 12) -> byte % 13
    for name, value in headers:
        back.append(0)  # ConsumeBool() false: name from the data
        front += fdp_string(name) + fdp_string(value)
    return front + body + bytes(reversed(back))


def sigv4_seeds(vec):
    suite = vec / "sigv4_testsuite"
    n = 0
    for req in sorted(suite.rglob("*.req")):
        authz = req.with_suffix(".authz")
        if not authz.exists():
            continue
        lines = req.read_bytes().split(b"\n")
        method, rest = lines[0].split(b" ", 1)
        target = rest.rsplit(b" ", 1)[0]
        headers = []
        i = 1
        while i < len(lines) and lines[i] != b"":
            if lines[i][:1] in (b" ", b"\t") and headers:
                headers[-1] = (headers[-1][0], headers[-1][1] + b" " + lines[i].strip())
            elif b":" in lines[i]:
                k, v = lines[i].split(b":", 1)
                headers.append((k, v))
            i += 1
        body = b"\n".join(lines[i + 1:])
        if len(headers) > 12:
            continue
        name = "suite_" + str(req.relative_to(suite).with_suffix("")).replace("/", "_")
        put("sigv4_authorization", name, sigv4_seed(authz.read_bytes().strip(), method, target, headers, body))
        n += 1
    auth_only = {
        "authz_params_reordered": b"AWS4-HMAC-SHA256 Signature=" + b"a" * 64 + b", SignedHeaders=host;x-amz-date, Credential=AKID/20150830/us-east-1/kms/aws4_request",
        "authz_missing_signature": b"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request, SignedHeaders=host",
        "authz_duplicate_param": b"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=" + b"0" * 64,
        "authz_unsorted_signed_headers": b"AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=x-amz-date;host, Signature=" + b"0" * 64,
        "authz_slash_in_akid": b"AWS4-HMAC-SHA256 Credential=A/B/20150830/r/s/aws4_request, SignedHeaders=host, Signature=" + b"0" * 64,
        "authz_bad_date_month13": b"AWS4-HMAC-SHA256 Credential=A/20151330/r/s/aws4_request, SignedHeaders=host, Signature=" + b"0" * 64,
    }
    for name, authz in auth_only.items():
        put("sigv4_authorization", name, sigv4_seed(authz, b"POST", b"/", [(b"Host", b"kms.us-east-1.amazonaws.com"), (b"X-Amz-Date", b"20150830T123600Z")], b"{}"))
    # The harness also reads its first string as an HTTP date: RFC 9110 5.6.7's three forms.
    for name, date in (("http_date_imf_fixdate", b"Sun, 06 Nov 1994 08:49:37 GMT"),
                       ("http_date_rfc850", b"Sunday, 06-Nov-94 08:49:37 GMT"),
                       ("http_date_asctime", b"Sun Nov  6 08:49:37 1994")):
        put("sigv4_authorization", name, date + b"\\ ")
    put("sigv4_authorization", "dot_segments_and_query",
        sigv4_seed(b"", b"GET", b"/a/./b/../../c//d/%2e%2E/?b=2&a=%41&a=&c", [(b"Host", b"h"), (b"host", b"H2"), (b"X-Amz-Date", b"bad")], b""))


# --- policy_document ---------------------------------------------------------------
def policy_seeds():
    """A key policy, then NUL-separated request values for its condition keys."""
    root = {"AWS": "arn:aws:iam::111122223333:root"}

    def doc(*statements):
        return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, separators=(",", ":"))

    def allow(sid, action, cond=None):
        st = {"Sid": sid, "Effect": "Allow", "Principal": root, "Action": action, "Resource": "*"}
        if cond:
            st["Condition"] = cond
        return st

    admin = allow("Admin", "kms:*")
    pcr0 = "3aa0e6e6ed7d7ed3e3bd1e7ba7a5be4e7bbdd6a1e1f6f13f8eb54b3b0fbd3f0a08c36ba9c4ba4cfc6d7e4c5e3d8f1a634c"
    seeds = {
        "default_key_policy": (doc(admin), []),
        "attested_decrypt": (doc(admin, allow("Enclave", "kms:Decrypt", {
            "StringEqualsIgnoreCase": {"kms:RecipientAttestation:ImageSha384": pcr0}})), [pcr0.upper()]),
        "explicit_deny_debug": (doc(allow("Enclave", "kms:Decrypt"), {
            "Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
            "Condition": {"StringEquals": {"kms:RecipientAttestation:PCR0": "00" * 48}}}), ["00" * 48]),
        "numeric_deletion_window": (doc(allow("Del", "kms:ScheduleKeyDeletion", {
            "NumericGreaterThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": 21},
            "NumericNotEquals": {"k": ["-1.5e3", "+7"]}})), ["30", "1e1"]),
        "dates_and_epoch": (doc(allow("Until", "kms:Decrypt", {
            "DateLessThan": {"aws:CurrentTime": "2026-12-31T23:59:59.5+01:00"},
            "DateGreaterThanEquals": {"aws:EpochTime": "2026-01"}})), ["2026-11-26T18:00:00Z", "1795716000"]),
        "ip_ranges": (doc(allow("Vpc", "kms:Decrypt", {
            "IpAddress": {"aws:SourceIp": ["10.0.0.0/9", "2001:db8::/33"]},
            "NotIpAddressIfExists": {"aws:VpcSourceIp": "192.168.0.1"}})), ["10.127.0.1", "::ffff:10.1.2.3"]),
        "binary_and_sets": (doc(allow("Bin", "kms:Decrypt", {
            "BinaryEquals": {"k": "QmluYXJ5"},
            "ForAllValues:StringLike": {"kms:EncryptionContextKeys": ["app*", "t?nant"]},
            "ForAnyValue:DateNotEquals": {"d": "1970-01-01"},
            "Null": {"kms:ViaService": "true"}})), ["QmluYXJ5", "apps", "0"]),
    }
    for name, (policy, values) in seeds.items():
        put("policy_document", name, policy + "".join("\0" + v for v in values))


# --- emulator_request ------------------------------------------------------------
def emulator_seeds():
    """"<operation>\n<JSON body>"; "@sym", "@pcr", "@rsa", "@symid", "@doc" and "@peer"
    are replaced by the harness (ciphertexts under alias/fuzz-sym, -pcr and -rsa, the
    key id of fuzz-sym, an attestation document, a P-256 public key; fuzz-sign is a P-256
    signing key); see
    fuzz/emulator_request.cc."""
    recipient = {"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256", "AttestationDocument": "@doc"}
    seeds = {
        "decrypt_with_context": ("Decrypt", {"CiphertextBlob": "@sym", "EncryptionContext": {"k": "v"}}),
        "decrypt_recipient_pcr_key": ("Decrypt", {"CiphertextBlob": "@pcr", "KeyId": "alias/fuzz-pcr",
                                                  "Recipient": recipient}),
        "err_decrypt_pcr_key_without_recipient": ("Decrypt", {"CiphertextBlob": "@pcr"}),
        "decrypt_rsa": ("Decrypt", {"CiphertextBlob": "@rsa", "KeyId": "alias/fuzz-rsa",
                                    "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}),
        "decrypt_dry_run_ignore_ciphertext": ("Decrypt", {"KeyId": "alias/fuzz-sym", "DryRun": True,
                                                          "DryRunModifiers": ["IGNORE_CIPHERTEXT"]}),
        "encrypt": ("Encrypt", {"KeyId": "alias/fuzz-sym", "Plaintext": "aGk=", "EncryptionContext": {"a": "b"},
                                "GrantTokens": ["t"]}),
        "re_encrypt_to_rsa": ("ReEncrypt", {"CiphertextBlob": "@sym", "SourceEncryptionContext": {"k": "v"},
                                            "DestinationKeyId": "alias/fuzz-rsa",
                                            "DestinationEncryptionAlgorithm": "RSAES_OAEP_SHA_1"}),
        "generate_data_key_recipient": ("GenerateDataKey", {"KeyId": "alias/fuzz-sym", "KeySpec": "AES_256",
                                                            "Recipient": recipient}),
        "generate_data_key_pair_ecc": ("GenerateDataKeyPair", {"KeyId": "alias/fuzz-sym",
                                                               "KeyPairSpec": "ECC_NIST_P256"}),
        "generate_random_recipient": ("GenerateRandom", {"NumberOfBytes": 32, "Recipient": recipient}),
        "derive_shared_secret": ("DeriveSharedSecret", {"KeyId": "alias/fuzz-ecc", "KeyAgreementAlgorithm": "ECDH",
                                                        "PublicKey": "@peer", "Recipient": recipient}),
        "sign_digest": ("Sign", {"KeyId": "alias/fuzz-sign", "Message": "A" * 43 + "=", "MessageType": "DIGEST",
                                 "SigningAlgorithm": "ECDSA_SHA_256"}),
        "verify_raw": ("Verify", {"KeyId": "alias/fuzz-sign", "Message": "aGk=", "Signature": "MEUCIQ==",
                                  "SigningAlgorithm": "ECDSA_SHA_256"}),
        "describe_key_arn": ("DescribeKey", {"KeyId": "arn:aws:kms:us-east-1:111122223333:alias/fuzz-rsa"}),
        "list_keys_paged": ("ListKeys", {"Limit": 1, "Marker": "x"}),
        "get_public_key": ("GetPublicKey", {"KeyId": "alias/fuzz-ecc"}),
        "create_key_tags": ("CreateKey", {"Description": "d", "KeySpec": "ECC_NIST_P384", "KeyUsage": "KEY_AGREEMENT",
                                          "Tags": [{"TagKey": "t", "TagValue": "v"}]}),
        "put_key_policy_lockout": ("PutKeyPolicy", {"KeyId": "alias/fuzz-sym", "PolicyName": "default",
                                                    "Policy": "{\"Version\":\"2012-10-17\",\"Statement\":[]}"}),
        "schedule_key_deletion": ("ScheduleKeyDeletion", {"KeyId": "alias/fuzz-sym", "PendingWindowInDays": 7}),
        "update_alias": ("UpdateAlias", {"AliasName": "alias/fuzz-pcr", "TargetKeyId": "@symid"}),
        "create_alias": ("CreateAlias", {"AliasName": "alias/new", "TargetKeyId": "@symid"}),
        "disable_key": ("DisableKey", {"KeyId": "@symid"}),
        "tag_resource": ("TagResource", {"KeyId": "alias/fuzz-sym", "Tags": [{"TagKey": "env", "TagValue": "prod"}]}),
        "untag_resource": ("UntagResource", {"KeyId": "alias/fuzz-sym", "TagKeys": ["env", "absent"]}),
        "err_update_alias_to_alias": ("UpdateAlias", {"AliasName": "alias/fuzz-sym", "TargetKeyId": "alias/fuzz-rsa"}),
        "err_null_list_element": ("CreateKey", {"Tags": [None]}),
        "err_null_map_value": ("Encrypt", {"KeyId": "alias/fuzz-sym", "Plaintext": "aGk=",
                                           "EncryptionContext": {"a": None}}),
        "err_decrypt_without_ciphertext": ("Decrypt", {"KeyId": "alias/fuzz-sym", "DryRun": True}),
        "err_alias_name_with_colon": ("CreateAlias", {"AliasName": "alias/a:b", "TargetKeyId": "@symid"}),
        "err_unknown_operation": ("Frobnicate", {}),
    }
    for name, (op, body) in seeds.items():
        put("emulator_request", name, op + "\n" + json.dumps(body, separators=(",", ":")))
    put("emulator_request", "err_body_not_json", "Decrypt\n{\"CiphertextBlob\":")


# --- credentials_document --------------------------------------------------------
def credentials_seeds():
    """Byte 0: rules (1 = Code "Success", 2 = Token, 4 = Expiration required; 8 = the body
    is a shared credentials file); then the body. The keys are AWS's documentation examples."""
    imds = {"Code": "Success", "LastUpdated": "2026-11-27T03:00:00Z", "Type": "AWS-HMAC",
            "AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "Token": "IQoJb3JpZ2luX2VjEXAMPLETOKEN", "Expiration": "2026-11-27T09:00:00Z"}
    container = {k: v for k, v in imds.items() if k not in ("Code", "LastUpdated", "Type")}
    container["RoleArn"] = "arn:aws:iam::111122223333:role/app"
    seeds = {
        "imds_role_document": (7, imds),
        "container_document": (0, container),
        "long_term_keys": (0, {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE",
                               "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}),
        "err_code_not_success": (1, dict(imds, Code="AssumeRoleUnauthorizedAccess")),
        "err_expiration_not_rfc3339": (4, dict(imds, Expiration="27/11/2026 09:00")),
        "err_token_with_newline": (2, dict(imds, Token="IQoJ\r\nX-Injected: 1")),
        "expiration_with_fraction_and_offset": (4, dict(imds, Expiration="2026-11-27T09:00:00.123+00:00")),
    }
    for name, (rules, body) in seeds.items():
        put("credentials_document", name, bytes([rules]) + json.dumps(body).encode())
    put("credentials_document", "profile_file",
        bytes([8]) + b"# comment\n[dev]\naws_access_key_id=AKIADEV\naws_secret_access_key=d\n\n[default]\n"
        b"AWS_ACCESS_KEY_ID = AKIAIOSFODNN7EXAMPLE\r\naws_secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        b"aws_session_token = IQoJb3JpZ2luX2VjEXAMPLETOKEN\n  nested = x\n[assume]\nrole_arn = arn\n")
    put("credentials_document", "err_profile_inline_comment",
        bytes([8]) + b"[default]\naws_access_key_id = AKID\naws_secret_access_key = s # c\n")
    put("credentials_document", "err_many_small_values",
        bytes([0]) + b'{"AccessKeyId":"A","SecretAccessKey":"B","x":[' + b"0," * 2000 + b'0]}')


# --- config_yaml -----------------------------------------------------------------
def config_seeds():
    td = ROOT / "src" / "config" / "testdata"
    for f in sorted(td.glob("*.yaml")):
        copy("config_yaml", "testdata_" + f.stem + ".yaml", f)
    hand = {
        "anchors_and_aliases.yaml": "kms_proxy: &k\n  listen_port: 9999\negress:\n  allow: &a\n    - kms.*\n  deny: *a\n",
        "merge_key.yaml": "base: &b {listen_port: 1}\nkms_proxy:\n  <<: *b\n",
        "multi_document.yaml": "version: v1\n---\nversion: v1\n",
        "deep_flow_nesting.yaml": "kms_proxy: " + "[" * 64 + "]" * 64 + "\n",
        "port_out_of_range.yaml": "kms_proxy:\n  listen_port: 70000\ningress:\n  - listen_port: -1\n",
        "binary_tag_and_nulls.yaml": "name: !!binary aGVsbG8=\ntarget: ~\nkms_proxy: null\n",
        "tab_indent_error.yaml": "kms_proxy:\n\tlisten_port: 9999\n",
        "egress_ipv6_cidr.yaml": "egress:\n  allow:\n    - \"::1\"\n    - 10.0.0.0/8\n    - \"**.amazonaws.com\"\n  deny:\n    - \"[fe80::1]\"\n",
        "unknown_key_deep.yaml": "kms_proxy:\n  attestation:\n    pcrs:\n      0: zz\n      99: \"00\"\n    bogus: 1\n",
        "bom_and_crlf.yaml": "\ufeffversion: v1\r\nname: x\r\n",
        "measurements.json": '{"Measurements":{"HashAlgorithm":"Sha384 { ... }","PCR0":"' + "00" * 48 + '"}}',
        "empty.yaml": "",
    }
    for name, text in hand.items():
        put("config_yaml", name, text)


# --- http_request ----------------------------------------------------------------
def http_seeds(vec):
    cfr_req = '{"CiphertextBlob":"AQIDBAUGBwg=","KeyId":"alias/app"}'
    head = ("POST / HTTP/1.1\r\nHost: 127.0.0.1:9999\r\nX-Amz-Target: TrentService.Decrypt\r\n"
            "Content-Type: application/x-amz-json-1.1\r\nX-Amz-Date: 20150830T123600Z\r\n")
    kms = head + "Content-Length: %d\r\n\r\n%s" % (len(cfr_req), cfr_req)
    chunked = head + "Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\n{\"a\":\r\n2\r\n1}\r\n0\r\nTrailer: x\r\n\r\n"
    hand = {
        # (chunk byte, flags byte, wire)
        "kms_decrypt_one_read": (0, 0, kms),
        "kms_decrypt_byte_by_byte": (1, 0, kms),
        "chunked_body_with_trailer": (7, 0, chunked),
        "pipelined_three": (0, 0, kms * 3),
        "expect_100_continue": (0, 0, head + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n{}"),
        "http10_keep_alive": (0, 0, "GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n"),
        "connection_close_then_more": (0, 0, "GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
        "obs_fold_header": (0, 0, "GET / HTTP/1.1\r\nX-A: one\r\n two\r\n\r\n"),
        "lf_only_line_endings": (0, 0, "GET / HTTP/1.1\nHost: x\n\n"),
        "cl_and_te_both": (0, 0, head + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        "duplicate_content_length": (0, 0, "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        "content_length_leading_zeros": (0, 0, "POST / HTTP/1.1\r\nContent-Length: 0002\r\n\r\n{}"),
        "chunk_size_overflow": (0, 0, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n"),
        "body_over_tight_limit": (0, 1, "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + "x" * 100),
        "header_over_tight_limit": (0, 1, "GET / HTTP/1.1\r\nX-Long: " + "a" * 300 + "\r\n\r\n"),
        "chunked_over_tight_limit": (3, 1, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n" + "y" * 65 + "\r\n0\r\n\r\n"),
        "bad_method_and_version": (0, 0, "P@ST / HTTP/2.0\r\n\r\n"),
        "absolute_form_target": (0, 0, "GET http://kms.us-east-1.amazonaws.com/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        "nul_in_header_value": (0, 0, "GET / HTTP/1.1\r\nX-A: a\x00b\r\n\r\n"),
        "eof_mid_body": (5, 0, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"),
        # Read as a request these fail; the harness also reads every wire as
        # an upstream response (the client's fast path against Beast).
        "kms_response_200": (0, 0, "HTTP/1.1 200 OK\r\nx-amzn-RequestId: 4b5d9a3e-8d2c-4f1a-9b7e\r\n"
                                   "Content-Type: application/x-amz-json-1.1\r\nContent-Length: %d\r\n"
                                   "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n\r\n%s" % (len(cfr_req), cfr_req)),
        "kms_response_chunked_close": (0, 0, "HTTP/1.1 400 Bad Request\r\nx-amzn-RequestId: 1\r\n"
                                             "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                             "2\r\n{}\r\n0\r\n\r\n"),
    }
    for name, (chunk, flags, wire) in hand.items():
        put("http_request", name, bytes([chunk, flags]) + wire.encode("latin-1"))


def generate(vec):
    for t in TARGETS:
        shutil.rmtree(CORPUS / t, ignore_errors=True)
    cbor_seeds(vec)
    attestation_seeds(vec)
    cms_seeds(vec)
    kms_seeds(vec)
    sigv4_seeds(vec)
    config_seeds()
    http_seeds(vec)
    policy_seeds()
    emulator_seeds()
    credentials_seeds()


def files(root):
    return {str(p.relative_to(root)): p.read_bytes()
            for t in TARGETS for p in sorted((root / t).rglob("*")) if p.is_file()}


def main():
    global CORPUS
    ap = argparse.ArgumentParser()
    ap.add_argument("--vectors", default=str(ROOT.parent / "shared" / "vectors"))
    ap.add_argument("--check", action="store_true",
                    help="compare the committed corpus with a fresh generation; change nothing")
    args = ap.parse_args()
    vec = pathlib.Path(args.vectors)
    if not args.check:
        generate(vec)
        return 0
    committed = CORPUS
    with tempfile.TemporaryDirectory() as tmp:
        CORPUS = pathlib.Path(tmp)
        generate(vec)
        want, have = files(CORPUS), files(committed)
    bad = [f"missing from fuzz/corpus: {n}" for n in sorted(want.keys() - have.keys())]
    bad += [f"not produced by make_seeds.py: fuzz/corpus/{n}" for n in sorted(have.keys() - want.keys())]
    bad += [f"differs from make_seeds.py's output: fuzz/corpus/{n}"
            for n in sorted(want.keys() & have.keys()) if want[n] != have[n]]
    for line in bad:
        print(line)
    if bad:
        print("fuzz/tools/make_seeds.py regenerates the corpus; add hand-made seeds to it")
        return 1
    print(f"fuzz/corpus matches make_seeds.py ({len(want)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
