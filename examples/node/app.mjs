// An enclave app using KMS through kms-proxy with the AWS SDK for JavaScript v3.
//
// The only proxy-specific line is `endpoint: process.env.AWS_KMS_ENDPOINT`
// (kms-proxy / Enclaver set it, e.g. http://127.0.0.1:9999). The proxy attaches
// the enclave's attestation document to Decrypt, GenerateDataKey,
// GenerateDataKeyPair, GenerateRandom and DeriveSharedSecret, opens KMS's
// CiphertextForRecipient and returns `Plaintext` as usual. Credentials can be
// anything: the proxy re-signs.
//
// Node's http module ignores HTTP_PROXY/HTTPS_PROXY, which is what an enclave
// gives the app for its other egress; global-agent makes it honour them. Its
// default is to read GLOBAL_AGENT_HTTP_PROXY etc., so we tell it to read the
// plain names (the ones Enclaver and `kms-proxy run` export). NO_PROXY
// (localhost,127.0.0.1) keeps the calls to the KMS proxy itself direct.
//
// Inputs (environment): AWS_KMS_ENDPOINT (required), KMS_KEY_ID (symmetric key
// for data keys), KMS_CIPHERTEXT (base64, no encryption context),
// KMS_ECDH_KEY_ID (ECC_NIST_P256 KEY_AGREEMENT key), KMS_STEPS (comma list,
// default decrypt,datakey,random,datakeypair,derive).
// Output: one line per step ("decrypt: <plaintext>", "datakey: ok 32", ...),
// then "done"; on an error "error: <step>: <ErrorName>: <message>", exit 1.
import crypto from "node:crypto";
import { createRequire } from "node:module";

import { bootstrap } from "global-agent";
import {
  DecryptCommand,
  DeriveSharedSecretCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyPairCommand,
  GenerateRandomCommand,
  GetPublicKeyCommand,
  KMSClient,
} from "@aws-sdk/client-kms";

process.env.GLOBAL_AGENT_ENVIRONMENT_VARIABLE_NAMESPACE ??= "";
bootstrap();

const kms = new KMSClient({ endpoint: process.env.AWS_KMS_ENDPOINT });

const STEPS = ["decrypt", "datakey", "random", "datakeypair", "derive"];
const CONTEXT = { purpose: "example" };
const MESSAGE = Buffer.from("hello from the enclave");

function sealGcm(key, plaintext) {
  const nonce = crypto.randomBytes(12);
  const c = crypto.createCipheriv("aes-256-gcm", key, nonce);
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return { nonce, body, tag: c.getAuthTag() };
}

function openGcm(key, { nonce, body, tag }) {
  const d = crypto.createDecipheriv("aes-256-gcm", key, nonce);
  d.setAuthTag(tag);
  return Buffer.concat([d.update(body), d.final()]); // throws if the tag does not verify
}

const steps = {
  async decrypt() {
    const out = await kms.send(new DecryptCommand({
      CiphertextBlob: Buffer.from(process.env.KMS_CIPHERTEXT, "base64"),
    }));
    return Buffer.from(out.Plaintext).toString("utf8");
  },

  // Envelope encryption: encrypt locally with the data key, keep only the
  // wrapped key next to the data, unwrap it again later with Decrypt.
  async datakey() {
    const dk = await kms.send(new GenerateDataKeyCommand({
      KeyId: process.env.KMS_KEY_ID, KeySpec: "AES_256", EncryptionContext: CONTEXT,
    }));
    const sealed = sealGcm(dk.Plaintext, MESSAGE);
    const again = await kms.send(new DecryptCommand({
      CiphertextBlob: dk.CiphertextBlob, EncryptionContext: CONTEXT,
    }));
    if (!Buffer.from(again.Plaintext).equals(Buffer.from(dk.Plaintext))) {
      throw new Error("Decrypt of the wrapped data key returned a different key");
    }
    if (!openGcm(again.Plaintext, sealed).equals(MESSAGE)) {
      throw new Error("AES-GCM round trip failed");
    }
    return `ok ${again.Plaintext.length}`;
  },

  async random() {
    const out = await kms.send(new GenerateRandomCommand({ NumberOfBytes: 32 }));
    return `${out.Plaintext.length} bytes`;
  },

  async datakeypair() {
    const pair = await kms.send(new GenerateDataKeyPairCommand({
      KeyId: process.env.KMS_KEY_ID, KeyPairSpec: "ECC_NIST_P256", EncryptionContext: CONTEXT,
    }));
    const priv = crypto.createPrivateKey({ key: Buffer.from(pair.PrivateKeyPlaintext), format: "der", type: "pkcs8" });
    const pub = crypto.createPublicKey(priv).export({ type: "spki", format: "der" });
    if (!pub.equals(Buffer.from(pair.PublicKey))) {
      throw new Error("PrivateKeyPlaintext does not match PublicKey");
    }
    return `ok ${pair.KeyPairSpec}`;
  },

  async derive() {
    const keyId = process.env.KMS_ECDH_KEY_ID;
    const mine = crypto.generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const out = await kms.send(new DeriveSharedSecretCommand({
      KeyId: keyId, KeyAgreementAlgorithm: "ECDH",
      PublicKey: mine.publicKey.export({ type: "spki", format: "der" }),
    }));
    // The other side of the agreement: our private key and KMS's public key.
    const theirs = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
    const local = crypto.diffieHellman({
      privateKey: mine.privateKey,
      publicKey: crypto.createPublicKey({ key: Buffer.from(theirs.PublicKey), format: "der", type: "spki" }),
    });
    if (!local.equals(Buffer.from(out.SharedSecret))) {
      throw new Error("SharedSecret differs from the locally derived secret");
    }
    return `ok ${out.SharedSecret.length}`;
  },
};

const needs = { decrypt: "KMS_CIPHERTEXT", datakey: "KMS_KEY_ID", datakeypair: "KMS_KEY_ID", derive: "KMS_ECDH_KEY_ID" };

async function main() {
  const wanted = (process.env.KMS_STEPS ?? STEPS.join(",")).split(",").map((s) => s.trim()).filter(Boolean);
  const sdkVersion = createRequire(import.meta.url)("@aws-sdk/client-kms/package.json").version;
  console.log(`sdk: node ${process.version} @aws-sdk/client-kms ${sdkVersion}`);
  for (const name of STEPS) {
    if (!wanted.includes(name)) {
      continue;
    }
    if (needs[name] && !process.env[needs[name]]) {
      console.log(`${name}: skipped (no ${needs[name]})`);
      continue;
    }
    try {
      console.log(`${name}: ${await steps[name]()}`);
    } catch (e) {
      console.error(`error: ${name}: ${e.name}: ${e.message}`);
      return 1;
    }
  }
  console.log("done");
  return 0;
}

process.exitCode = await main();
kms.destroy();
