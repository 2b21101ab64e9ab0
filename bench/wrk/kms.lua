-- File: bench/wrk/kms.lua
--
-- wrk script: one fixed KMS JSON 1.1 request shaped like an AWS SDK's, sent
-- over keep-alive connections, and a JSON summary with the latency histogram
-- written at the end (wrk records latency per request in microseconds).
--
--   KP_WRK_OP=encrypt|decrypt KP_WRK_OUT=result.json \
--     wrk -t1 -c64 -d5s -s bench/wrk/kms.lua http://127.0.0.1:PORT/
--
-- The Authorization header is well-formed but not valid: the proxy drops it
-- and re-signs; the stub only checks that one is present.

local op = os.getenv("KP_WRK_OP") or "encrypt"
local out_path = os.getenv("KP_WRK_OUT")

local key_arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
-- 184 bytes of KMS ciphertext, base64 (a real CiphertextBlob's size).
local blob_b64 = "AQgPFh0kKzI5QEdOVVxjanF4f4aNlJuiqbC3vsXM09rh6O/2/QQLEhkgJy41PENKUVhfZm10e4KJkJeepayz"
  .. "usHIz9bd5Ovy+QAHDhUcIyoxOD9GTVRbYmlwd36FjJOaoaivtr3Ey9LZ4Ofu9fwDChEYHyYtNDtCSVBXXmVsc3qB"
  .. "iI+WnaSrsrnAx87V3OPq8fj/Bg0UGyIpMDc+RUxTWmFob3Z9hIuSmaCnrrW8w8rR2N/m7fT7Ag=="

local bodies = {
  encrypt = '{"KeyId":"' .. key_arn .. '","Plaintext":"SGVsbG8sIFdvcmxkISBiZW5jaG1hcmsgcGxhaW50ZXh0"}',
  decrypt = '{"CiphertextBlob":"' .. blob_b64 .. '","KeyId":"' .. key_arn .. '"}',
}
local targets = {
  encrypt = "TrentService.Encrypt",
  decrypt = "TrentService.Decrypt",
}

wrk.method = "POST"
wrk.path = "/"
wrk.body = bodies[op]
wrk.headers["Content-Type"] = "application/x-amz-json-1.1"
wrk.headers["X-Amz-Target"] = targets[op]
wrk.headers["X-Amz-Date"] = "20240101T000000Z"
wrk.headers["User-Agent"] = "aws-sdk-go-v2/1.30.0 os/linux lang/go#1.22 api/kms#1.35.0 wrk"
wrk.headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/kms/aws4_request, "
  .. "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="
  .. string.rep("0", 64)

-- Percentiles written for the summary and the latency plot.
local points = { 0, 1, 5, 10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97.5, 99, 99.5, 99.9, 99.99, 100 }

function done(summary, latency, requests)
  if out_path == nil then
    return
  end
  local f = assert(io.open(out_path, "w"))
  local e = summary.errors
  f:write(string.format('{"op":"%s","requests":%d,"duration_us":%d,"bytes":%d,', op, summary.requests,
    summary.duration, summary.bytes))
  f:write(string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},',
    e.connect, e.read, e.write, e.status, e.timeout))
  f:write(string.format('"latency_us":{"min":%d,"max":%d,"mean":%.2f,"stdev":%.2f,"p50":%d,"p90":%d,"p99":%d,"p999":%d},',
    latency.min, latency.max, latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
  f:write('"percentiles":[')
  for i, p in ipairs(points) do
    if i > 1 then
      f:write(",")
    end
    -- wrk's percentile(100) is 0; the maximum is latency.max
    local v = p >= 100 and latency.max or latency:percentile(p)
    f:write(string.format("[%s,%d]", tostring(p), v))
  end
  f:write("]}\n")
  f:close()
end
