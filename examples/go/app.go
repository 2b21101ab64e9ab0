// An enclave app using KMS through kms-proxy with aws-sdk-go-v2.
//
// The only proxy-specific code is the endpoint resolver, which returns
// AWS_KMS_ENDPOINT (kms-proxy / Enclaver set it, e.g. http://127.0.0.1:9999)
// for KMS. The proxy attaches the enclave's attestation document to Decrypt,
// GenerateDataKey, GenerateDataKeyPair, GenerateRandom and DeriveSharedSecret,
// opens KMS's CiphertextForRecipient and returns `Plaintext` as usual, so this
// works with SDK versions that predate Recipient (like Debian 12's
// aws-sdk-go-v2 1.17.1 / service/kms 1.18.15). Credentials can be anything:
// the proxy re-signs.
//
// That service/kms version has no DeriveSharedSecret (added in 2024), so the
// derive step reports "unsupported".
//
// Build (Debian 12, no module proxy): GOPATH mode against /usr/share/gocode
//
//	apt-get install golang-go golang-github-aws-aws-sdk-go-v2-dev
//	GO111MODULE=off GOPATH=$HOME/go:/usr/share/gocode go build -o app app.go
//
// Inputs (environment): AWS_KMS_ENDPOINT (required), AWS_REGION,
// KMS_KEY_ID (symmetric key for data keys), KMS_CIPHERTEXT (base64, no
// encryption context), KMS_STEPS (comma list, default
// decrypt,datakey,random,datakeypair,derive).
// Output: one line per step ("decrypt: <plaintext>", "datakey: ok 32", ...),
// then "done"; on an error "error: <step>: <ErrorCode>: <message>", exit 1.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

var (
	steps      = []string{"decrypt", "datakey", "random", "datakeypair", "derive"}
	needs      = map[string]string{"decrypt": "KMS_CIPHERTEXT", "datakey": "KMS_KEY_ID", "datakeypair": "KMS_KEY_ID"}
	encContext = map[string]string{"purpose": "example"}
	message    = []byte("hello from the enclave")
)

func newClient(ctx context.Context) (*kms.Client, error) {
	endpoint := os.Getenv("AWS_KMS_ENDPOINT")
	resolver := aws.EndpointResolverWithOptionsFunc(
		func(service, region string, options ...interface{}) (aws.Endpoint, error) {
			if service == kms.ServiceID {
				return aws.Endpoint{URL: endpoint, SigningRegion: region}, nil
			}
			// Everything else: the SDK's default resolution.
			return aws.Endpoint{}, &aws.EndpointNotFoundError{}
		})
	cfg, err := config.LoadDefaultConfig(ctx, config.WithEndpointResolverWithOptions(resolver))
	if err != nil {
		return nil, err
	}
	return kms.NewFromConfig(cfg), nil
}

// gcmSeal and gcmOpen use the data key locally (AES-256-GCM, random nonce).
func gcmSeal(key, plaintext []byte) (nonce, sealed []byte, err error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	nonce = make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, err
	}
	return nonce, aead.Seal(nil, nonce, plaintext, []byte("example-aad")), nil
}

func gcmOpen(key, nonce, sealed []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return aead.Open(nil, nonce, sealed, []byte("example-aad"))
}

func stepDecrypt(ctx context.Context, c *kms.Client) (string, error) {
	blob, err := base64.StdEncoding.DecodeString(os.Getenv("KMS_CIPHERTEXT"))
	if err != nil {
		return "", err
	}
	out, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob})
	if err != nil {
		return "", err
	}
	return string(out.Plaintext), nil
}

// Envelope encryption: encrypt locally with the data key, keep only the
// wrapped key next to the data, unwrap it again later with Decrypt.
func stepDatakey(ctx context.Context, c *kms.Client) (string, error) {
	dk, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(os.Getenv("KMS_KEY_ID")), KeySpec: types.DataKeySpecAes256,
		EncryptionContext: encContext,
	})
	if err != nil {
		return "", err
	}
	nonce, sealed, err := gcmSeal(dk.Plaintext, message)
	if err != nil {
		return "", err
	}
	again, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: encContext})
	if err != nil {
		return "", err
	}
	if !bytes.Equal(again.Plaintext, dk.Plaintext) {
		return "", errors.New("decrypting the wrapped data key returned a different key")
	}
	opened, err := gcmOpen(again.Plaintext, nonce, sealed)
	if err != nil || !bytes.Equal(opened, message) {
		return "", fmt.Errorf("AES-GCM round trip failed: %v", err)
	}
	return fmt.Sprintf("ok %d", len(again.Plaintext)), nil
}

func stepRandom(ctx context.Context, c *kms.Client) (string, error) {
	out, err := c.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32)})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d bytes", len(out.Plaintext)), nil
}

func stepDatakeypair(ctx context.Context, c *kms.Client) (string, error) {
	pair, err := c.GenerateDataKeyPair(ctx, &kms.GenerateDataKeyPairInput{
		KeyId: aws.String(os.Getenv("KMS_KEY_ID")), KeyPairSpec: types.DataKeyPairSpecEccNistP256,
		EncryptionContext: encContext,
	})
	if err != nil {
		return "", err
	}
	priv, err := x509.ParsePKCS8PrivateKey(pair.PrivateKeyPlaintext)
	if err != nil {
		return "", err
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return "", errors.New("private key plaintext is not a crypto.Signer")
	}
	pub, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return "", err
	}
	if !bytes.Equal(pub, pair.PublicKey) {
		return "", errors.New("private key plaintext does not match the public key")
	}
	return "ok " + string(pair.KeyPairSpec), nil
}

func main() {
	os.Exit(run())
}

func run() int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, err := newClient(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: config: %v\n", err)
		return 1
	}
	wanted := map[string]bool{}
	list := os.Getenv("KMS_STEPS")
	if list == "" {
		list = strings.Join(steps, ",")
	}
	for _, s := range strings.Split(list, ",") {
		wanted[strings.TrimSpace(s)] = true
	}
	fmt.Printf("sdk: go %s aws-sdk-go-v2 %s\n", runtime.Version(), aws.SDKVersion)

	funcs := map[string]func(context.Context, *kms.Client) (string, error){
		"decrypt": stepDecrypt, "datakey": stepDatakey, "random": stepRandom, "datakeypair": stepDatakeypair,
	}
	for _, name := range steps {
		if !wanted[name] {
			continue
		}
		fn, ok := funcs[name]
		if !ok {
			fmt.Printf("%s: unsupported (this service/kms has no DeriveSharedSecret)\n", name)
			continue
		}
		if env := needs[name]; env != "" && os.Getenv(env) == "" {
			fmt.Printf("%s: skipped (no %s)\n", name, env)
			continue
		}
		result, err := fn(ctx, client)
		if err != nil {
			var apiErr smithy.APIError
			if errors.As(err, &apiErr) {
				fmt.Fprintf(os.Stderr, "error: %s: %s: %s\n", name, apiErr.ErrorCode(), apiErr.ErrorMessage())
			} else {
				fmt.Fprintf(os.Stderr, "error: %s: %v\n", name, err)
			}
			return 1
		}
		fmt.Printf("%s: %s\n", name, result)
	}
	fmt.Println("done")
	return 0
}
