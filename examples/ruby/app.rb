#!/usr/bin/env ruby
# frozen_string_literal: true

# An enclave app using KMS through kms-proxy with the AWS SDK for Ruby.
#
# The only proxy-specific code is `endpoint: ENV["AWS_KMS_ENDPOINT"]`
# (kms-proxy / Enclaver set it, e.g. http://127.0.0.1:9999). The proxy attaches
# the enclave's attestation document to Decrypt, GenerateDataKey and
# GenerateRandom, opens KMS's CiphertextForRecipient and returns `plaintext`
# as usual, so this works with gems that predate Recipient, like Debian 12's
# ruby-aws-sdk-kms 1.24.0 (aws-sdk-core 3.168.1). Credentials can be
# anything: the proxy re-signs.
#
# That old model has no GenerateDataKeyPair and no DeriveSharedSecret (and its
# Decrypt has no key_id), so those two steps report "unsupported" unless the
# installed gem knows them.
#
# Inputs (environment): AWS_KMS_ENDPOINT (required), AWS_REGION, KMS_KEY_ID
# (symmetric key for data keys), KMS_CIPHERTEXT (base64, no encryption
# context), KMS_ECDH_KEY_ID (ECC_NIST_P256 KEY_AGREEMENT key), KMS_STEPS (comma list, default decrypt,datakey,random,datakeypair,derive).
# Output: one line per step ("decrypt: <plaintext>", "datakey: ok 32", ...),
# then "done"; on an error "error: <step>: <ErrorCode>: <message>", exit 1.
require "aws-sdk-kms"
require "base64"
require "openssl"

$stdout.sync = true

kms = Aws::KMS::Client.new(endpoint: ENV["AWS_KMS_ENDPOINT"])

STEPS = %w[decrypt datakey random datakeypair derive].freeze
NEEDS = { "decrypt" => "KMS_CIPHERTEXT", "datakey" => "KMS_KEY_ID", "datakeypair" => "KMS_KEY_ID",
          "derive" => "KMS_ECDH_KEY_ID" }.freeze
CONTEXT = { "purpose" => "example" }.freeze
MESSAGE = "hello from the enclave"

# AES-256-GCM with the data key, locally.
def gcm_seal(key, plaintext)
  c = OpenSSL::Cipher.new("aes-256-gcm").encrypt
  c.key = key
  nonce = c.random_iv
  c.auth_data = "example-aad"
  body = c.update(plaintext) + c.final
  [nonce, body, c.auth_tag]
end

def gcm_open(key, nonce, body, tag)
  d = OpenSSL::Cipher.new("aes-256-gcm").decrypt
  d.key = key
  d.iv = nonce
  d.auth_tag = tag
  d.auth_data = "example-aad"
  d.update(body) + d.final # raises OpenSSL::Cipher::CipherError if the tag does not verify
end

def step_decrypt(kms)
  kms.decrypt(ciphertext_blob: Base64.strict_decode64(ENV["KMS_CIPHERTEXT"])).plaintext.force_encoding("UTF-8")
end

# Envelope encryption: encrypt locally with the data key, keep only the
# wrapped key next to the data, unwrap it again later with Decrypt.
def step_datakey(kms)
  dk = kms.generate_data_key(key_id: ENV["KMS_KEY_ID"], key_spec: "AES_256", encryption_context: CONTEXT)
  sealed = gcm_seal(dk.plaintext, MESSAGE)
  key = kms.decrypt(ciphertext_blob: dk.ciphertext_blob, encryption_context: CONTEXT).plaintext
  raise "Decrypt of the wrapped data key returned a different key" unless key == dk.plaintext
  raise "AES-GCM round trip failed" unless gcm_open(key, *sealed) == MESSAGE

  "ok #{key.bytesize}"
end

def step_random(kms)
  "#{kms.generate_random(number_of_bytes: 32).plaintext.bytesize} bytes"
end

# Needs aws-sdk-kms >= 1.26 (GenerateDataKeyPair, Nov 2019).
def step_datakeypair(kms)
  pair = kms.generate_data_key_pair(key_id: ENV["KMS_KEY_ID"], key_pair_spec: "ECC_NIST_P256",
                                    encryption_context: CONTEXT)
  private_key = OpenSSL::PKey.read(pair.private_key_plaintext)
  raise "PrivateKeyPlaintext does not match PublicKey" unless private_key.public_to_der == pair.public_key

  "ok #{pair.key_pair_spec}"
end

# Needs an aws-sdk-kms released in June 2024 or later (DeriveSharedSecret).
def step_derive(kms)
  mine = OpenSSL::PKey::EC.generate("prime256v1")
  secret = kms.derive_shared_secret(key_id: ENV["KMS_ECDH_KEY_ID"], key_agreement_algorithm: "ECDH",
                                    public_key: mine.public_to_der).shared_secret
  # The other side of the agreement: our private key and KMS's public key.
  theirs = OpenSSL::PKey.read(kms.get_public_key(key_id: ENV["KMS_ECDH_KEY_ID"]).public_key)
  raise "SharedSecret differs from the locally derived secret" unless mine.derive(theirs) == secret

  "ok #{secret.bytesize}"
end

wanted = (ENV["KMS_STEPS"] || STEPS.join(",")).split(",").map(&:strip)
puts "sdk: ruby #{RUBY_VERSION} aws-sdk-core #{Aws::CORE_GEM_VERSION} aws-sdk-kms #{Aws::KMS::GEM_VERSION}"
STEPS.each do |name|
  next unless wanted.include?(name)

  operation = { "datakeypair" => :generate_data_key_pair, "derive" => :derive_shared_secret }[name]
  if operation && !kms.respond_to?(operation)
    puts "#{name}: unsupported (aws-sdk-kms #{Aws::KMS::GEM_VERSION} has no #{operation})"
    next
  end
  if NEEDS[name] && (ENV[NEEDS[name]] || "").empty?
    puts "#{name}: skipped (no #{NEEDS[name]})"
    next
  end
  begin
    puts "#{name}: #{send("step_#{name}", kms)}"
  rescue Aws::KMS::Errors::ServiceError => e
    warn "error: #{name}: #{e.code}: #{e.message}"
    exit 1
  rescue Seahorse::Client::NetworkingError, OpenSSL::Cipher::CipherError, RuntimeError => e
    warn "error: #{name}: #{e.class}: #{e.message}"
    exit 1
  end
end
puts "done"
