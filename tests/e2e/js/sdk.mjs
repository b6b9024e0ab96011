// AWS SDK for JavaScript v3 against the gateway, as JS users drive it. Endpoint, keys and bucket come from the
// API's `credentials?format=env` output in the environment; one JSON document of results goes to stdout, which
// tests/e2e/test_js_clients.py judges (hashes, not bytes, so every byte is compared without a large stdout).
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import {
  S3Client, ListBucketsCommand, HeadBucketCommand, ListObjectsV2Command, paginateListObjectsV2, GetObjectCommand,
  HeadObjectCommand, PutObjectCommand, DeleteObjectCommand, DeleteObjectsCommand, CopyObjectCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

const env = process.env;
const bucket = env.TICKETBOOTH_BUCKET;
const client = (extra = {}) => new S3Client({
  endpoint: env.AWS_ENDPOINT_URL_S3, region: env.AWS_REGION, forcePathStyle: true, maxAttempts: 1,
  credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY }, ...extra,
});
const sha = (bytes) => createHash("sha256").update(bytes).digest("hex");
// Deterministic bytes of a given length, so Python can recompute every hash without a shared file.
const pattern = (n, seed) => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff; return b; };
const refusal = async (f) => { try { await f(); return null; } catch (e) { return { name: e.name, status: e.$metadata?.httpStatusCode }; } };

async function readWrite() {
  const s3 = client();
  const out = {};
  out.buckets = (await s3.send(new ListBucketsCommand({}))).Buckets.map((b) => b.Name);
  out.headBucket = (await s3.send(new HeadBucketCommand({ Bucket: bucket }))).$metadata.httpStatusCode;
  // Pagination: MaxKeys 2 over the seeded keys, through the SDK's own paginator.
  const keys = [];
  const listedEtags = {};
  let pages = 0;
  for await (const page of paginateListObjectsV2({ client: s3, pageSize: 2 }, { Bucket: bucket, Prefix: "seed/" })) {
    pages += 1;
    keys.push(...(page.Contents ?? []).map((c) => c.Key));
    for (const c of page.Contents ?? []) listedEtags[c.Key] = c.ETag;
  }
  out.paginated = { keys, pages };
  const delimited = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Delimiter: "/" }));
  out.prefixes = (delimited.CommonPrefixes ?? []).map((p) => p.Prefix);
  const whole = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "seed/big.bin" }));
  const chunks = [];
  for await (const chunk of whole.Body) chunks.push(chunk); // streamed, as a Node Readable
  out.get = { sha: sha(Buffer.concat(chunks)), length: whole.ContentLength, etag: whole.ETag };
  const ranged = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "seed/big.bin", Range: "bytes=100-1099" }));
  out.range = { sha: sha(await ranged.Body.transformToByteArray()), contentRange: ranged.ContentRange,
    status: ranged.$metadata.httpStatusCode };
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "seed/big.bin" }));
  out.head = { length: head.ContentLength, etag: head.ETag };
  out.listedEtag = listedEtags["seed/big.bin"];
  // Conditional reads with the ETag just seen, as download managers resume: If-Match holds, If-None-Match is a 304.
  const matched = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "seed/big.bin", Range: "bytes=0-9",
    IfMatch: head.ETag }));
  out.ifMatch = { status: matched.$metadata.httpStatusCode, etag: matched.ETag,
    sha: sha(await matched.Body.transformToByteArray()) };
  out.ifNoneMatch = await refusal(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: "seed/big.bin",
    IfNoneMatch: head.ETag })));
  // PutObject of a Buffer with metadata, then of a Readable (aws-chunked with the SDK's small chunks).
  const buf = pattern(300_000, 7);
  const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "up/buffer.bin", Body: buf,
    ContentType: "application/x-test", Metadata: { colour: "blue", "note-two": "zwei" } }));
  out.putBuffer = { etag: put.ETag, crc32: put.ChecksumCRC32 ?? null };
  const back = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "up/buffer.bin" }));
  out.metadata = { meta: back.Metadata, contentType: back.ContentType, length: back.ContentLength };
  const pieces = Array.from({ length: 200 }, (_, i) => pattern(997, i));
  const total = pieces.reduce((a, b) => a + b.length, 0);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "up/stream.bin", Body: Readable.from(pieces),
    ContentLength: total }));
  const streamed = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "up/stream.bin" }));
  out.putStream = { sha: sha(await streamed.Body.transformToByteArray()), expected: sha(Buffer.concat(pieces)) };
  // Default checksum behaviour (requestChecksumCalculation WHEN_SUPPORTED) vs. one asked for explicitly.
  const crc = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "up/crc32c.bin", Body: pattern(5000, 3),
    ChecksumAlgorithm: "CRC32C" }));
  out.crc32c = crc.ChecksumCRC32C ?? null;
  const checked = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "up/crc32c.bin", ChecksumMode: "ENABLED" }));
  out.crc32cGet = { sha: sha(await checked.Body.transformToByteArray()), checksum: checked.ChecksumCRC32C ?? null };
  const when = client({ requestChecksumCalculation: "WHEN_REQUIRED", responseChecksumValidation: "WHEN_REQUIRED" });
  await when.send(new PutObjectCommand({ Bucket: bucket, Key: "up/when-required.bin", Body: pattern(4000, 9) }));
  out.whenRequired = sha(await (await when.send(new GetObjectCommand({ Bucket: bucket, Key: "up/when-required.bin" }))).Body.transformToByteArray());
  // Copy, then delete one and a batch (one key missing: S3 reports it deleted).
  await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: "up/copy.bin", CopySource: `${bucket}/up/buffer.bin` }));
  out.copy = sha(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "up/copy.bin" }))).Body.transformToByteArray());
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "up/copy.bin" }));
  const batch = await s3.send(new DeleteObjectsCommand({ Bucket: bucket,
    Delete: { Objects: [{ Key: "up/when-required.bin" }, { Key: "up/never-was.bin" }] } }));
  out.deleted = (batch.Deleted ?? []).map((d) => d.Key).sort();
  out.deleteErrors = batch.Errors ?? [];
  out.afterDelete = await refusal(() => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "up/copy.bin" })));
  out.missing = await refusal(() => s3.send(new GetObjectCommand({ Bucket: bucket, Key: "up/never-was.bin" })));
  return out;
}

async function multipart() {
  const s3 = client();
  const body = pattern(12 * 1024 * 1024, 5);
  const upload = new Upload({ client: s3, params: { Bucket: bucket, Key: "multi/twelve.bin", Body: body },
    partSize: 5 * 1024 * 1024, queueSize: 2 });
  const parts = new Set();
  upload.on("httpUploadProgress", (p) => parts.add(p.part));
  const done = await upload.done();
  const back = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "multi/twelve.bin" }));
  // A Readable body of unknown length: lib-storage buffers it into parts itself.
  const streamUpload = new Upload({ client: s3, params: { Bucket: bucket, Key: "multi/stream.bin",
    Body: Readable.from([body.subarray(0, 6 * 1024 * 1024), body.subarray(6 * 1024 * 1024)]) },
    partSize: 5 * 1024 * 1024 });
  await streamUpload.done();
  const streamed = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "multi/stream.bin" }));
  return { etag: done.ETag, parts: [...parts].sort(), sha: sha(await back.Body.transformToByteArray()),
    streamSha: sha(await streamed.Body.transformToByteArray()), expected: sha(body) };
}

async function presigned() {
  const s3 = client();
  const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: "seed/big.bin" }), { expiresIn: 300 });
  const got = await fetch(getUrl);
  const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: bucket, Key: "up/presigned.bin" }), { expiresIn: 300 });
  const payload = pattern(70_000, 11);
  const put = await fetch(putUrl, { method: "PUT", body: payload });
  const tampered = await fetch(getUrl.replace("big.bin", "big.bim"));
  const back = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "up/presigned.bin" }));
  return { getStatus: got.status, getSha: sha(Buffer.from(await got.arrayBuffer())), putStatus: put.status,
    putSha: sha(await back.Body.transformToByteArray()), expected: sha(payload), tampered: tampered.status,
    tamperedBody: await tampered.text() };
}

async function refusals() {
  const s3 = client();
  return {
    put: await refusal(() => s3.send(new PutObjectCommand({ Bucket: bucket, Key: "up/nope.bin", Body: Buffer.from("x") }))),
    del: await refusal(() => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "seed/big.bin" }))),
    get: await refusal(async () => (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: "seed/big.bin" }))).Body.transformToByteArray()),
  };
}

const scenarios = { readWrite, multipart, presigned, refusals };
console.log(JSON.stringify(await scenarios[process.argv[2]]()));
