"""The upstream TLS client against a TLS server that is not ours: nginx.

kms-proxy's upstream connections run OpenSSL on the proxy's own BIO
(net/detail/tls_client_stream.h); its unit tests use a blocking OpenSSL peer.
Here nginx (Debian's nginx-light, configured in a temp dir, loopback only)
plays KMS with a fixed ListKeys answer and does what real servers do to
keep-alive connections:

* it closes each connection after 5 requests (keepalive_requests), announcing
  it with Connection: close on the fifth answer: 30 sequential calls all
  succeed, on exactly 6 connections, with no retry;
* it closes idle connections after 3 s (keepalive_timeout): a call made after
  the server dropped the pooled connection still succeeds;
* TLS 1.2 only and TLS 1.3 only servers both work, and the proxy refuses a
  server whose certificate does not chain to the CA it was given.
"""
import os
import shutil
import tempfile
import time
import unittest

import botocore.exceptions

import harness as h
from fault_support import proxy_env
from test_observability import http_get, parse_prometheus, value

ANSWER = '{"Keys":[{"KeyId":"k-1","KeyArn":"arn:aws:kms:us-east-1:111122223333:key/k-1"}],"Truncated":false}'


def start_nginx(tmpdir, cert, key, protocols):
    port = h.free_port()
    conf = os.path.join(tmpdir, f"nginx-{port}.conf")
    with open(conf, "w") as f:
        f.write(f"""
daemon off;
master_process off;
worker_processes 1;
error_log stderr warn;
pid {tmpdir}/nginx-{port}.pid;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {tmpdir}/body-{port};
  proxy_temp_path {tmpdir}/proxy-{port};
  fastcgi_temp_path {tmpdir}/fastcgi-{port};
  uwsgi_temp_path {tmpdir}/uwsgi-{port};
  scgi_temp_path {tmpdir}/scgi-{port};
  keepalive_requests 5;
  keepalive_timeout 3s;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols {protocols};
    location = / {{
      default_type application/x-amz-json-1.1;
      add_header x-amzn-RequestId nginx-rid always;
      return 200 '{ANSWER}';
    }}
  }}
}}
""")
    p = h.Proc("nginx", ["nginx", "-p", tmpdir, "-c", conf])
    h.wait_port(port, timeout=15, proc=p.p)
    return p, port


class NginxUpstreamTest(h.TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        cls.cls_tmp = tempfile.mkdtemp(prefix="kp-ngx-")
        cls.ca, cls.crt, cls.key = h.make_test_ca(cls.cls_tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.cls_tmp, True)

    def start(self, protocols, ca=None):
        nginx, port = start_nginx(self.tmp, self.crt, self.key, protocols)
        self.track(nginx)
        proxy, pport = h.start_proxy(
            ["--attestation", "none", "--ca-file", ca or self.ca, "--endpoint", f"us-east-1=https://localhost:{port}",
             "--metrics-listen", "127.0.0.1:0"],
            env=proxy_env(), name="kms-proxy-nginx")
        self.track(proxy)
        m = proxy.wait_for_line(r"metrics listen=127\.0\.0\.1:(\d+)", timeout=10)
        return h.boto3_kms(f"http://127.0.0.1:{pport}"), f"http://127.0.0.1:{m.group(1)}", proxy

    def check_keep_alive_and_closes(self, protocols):
        kms, metrics, _ = self.start(protocols)
        for i in range(30):
            keys = kms.list_keys()["Keys"]
            self.assertEqual(keys[0]["KeyId"], "k-1", f"call {i}")
        samples, _ = parse_prometheus(http_get(metrics + "/metrics")[2], self)
        opened = value(samples, "kms_proxy_upstream_connections_opened_total")
        reused = value(samples, "kms_proxy_upstream_connections_reused_total")
        retries = value(samples, "kms_proxy_upstream_retries_total")
        # nginx ends each connection after its fifth answer: 30 calls need 6.
        self.assertEqual(opened, 6, f"opened {opened}, reused {reused}")
        self.assertEqual(reused, 24)
        self.assertEqual(retries, 0)
        # Idle past nginx's keepalive_timeout: the pooled connection is gone.
        time.sleep(3.5)
        self.assertEqual(kms.list_keys()["Keys"][0]["KeyId"], "k-1")

    def test_tls13_keep_alive_and_server_closes(self):
        self.check_keep_alive_and_closes("TLSv1.3")

    def test_tls12_keep_alive_and_server_closes(self):
        self.check_keep_alive_and_closes("TLSv1.2")

    def test_certificate_from_another_ca_is_refused(self):
        other = os.path.join(self.tmp, "other")
        os.makedirs(other)
        other_ca, _, _ = h.make_test_ca(other)
        kms, _, proxy = self.start("TLSv1.2 TLSv1.3", ca=other_ca)
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            kms.list_keys()
        self.assertEqual(ctx.exception.response["ResponseMetadata"]["HTTPStatusCode"], 502)
        proxy.wait_for_line(r"certificate verify failed", timeout=10)


if __name__ == "__main__":
    unittest.main()
