// minio-js against the gateway (path style), as JS users drive it. Endpoint, keys and bucket come from the API's
// `credentials?format=env` output in the environment; one JSON document of results goes to stdout.
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import * as Minio from "minio";

const env = process.env;
const bucket = env.TICKETBOOTH_BUCKET;
const endpoint = new URL(env.AWS_ENDPOINT_URL_S3);
const client = new Minio.Client({
  endPoint: endpoint.hostname, port: Number(endpoint.port), useSSL: endpoint.protocol === "https:",
  accessKey: env.AWS_ACCESS_KEY_ID, secretKey: env.AWS_SECRET_ACCESS_KEY, region: env.AWS_REGION, pathStyle: true,
  // minio-js uploads a stream in parts of this size (its minimum, 5 MiB): 12 MiB makes three parts.
  partSize: 5 * 1024 * 1024,
});
if (env.MINIO_JS_TRACE) client.traceOn(process.stderr);
const sha = (bytes) => createHash("sha256").update(bytes).digest("hex");
const pattern = (n, seed) => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff; return b; };
const collect = (stream) => new Promise((resolve, reject) => {
  const items = [];
  stream.on("data", (item) => items.push(item));
  stream.on("end", () => resolve(items));
  stream.on("error", reject);
});
const refusal = async (f) => { try { await f(); return null; } catch (e) { return { code: e.code ?? e.message }; } };

async function readWrite() {
  const out = {};
  out.bucketExists = await client.bucketExists(bucket);
  out.listed = (await collect(client.listObjectsV2(bucket, "seed/", true))).map((o) => [o.name, o.size]);
  out.delimited = (await collect(client.listObjectsV2(bucket, "", false))).map((o) => o.prefix ?? o.name);
  out.get = sha(Buffer.concat(await collect(await client.getObject(bucket, "seed/big.bin"))));
  out.partial = sha(Buffer.concat(await collect(await client.getPartialObject(bucket, "seed/big.bin", 100, 1000))));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "minio-js-"));
  await client.fGetObject(bucket, "seed/big.bin", path.join(dir, "big.bin"));
  out.fGet = sha(fs.readFileSync(path.join(dir, "big.bin")));
  const buffer = pattern(300_000, 7);
  const put = await client.putObject(bucket, "up/buffer.bin", buffer, buffer.length,
    { "Content-Type": "application/x-test", "X-Amz-Meta-Colour": "blue" });
  out.putBuffer = put.etag;
  const stat = await client.statObject(bucket, "up/buffer.bin");
  out.stat = { size: stat.size, etag: stat.etag, meta: stat.metaData };
  const pieces = Array.from({ length: 50 }, (_, i) => pattern(4093, i));
  await client.putObject(bucket, "up/stream.bin", Readable.from(pieces));
  out.putStream = { sha: sha(Buffer.concat(await collect(await client.getObject(bucket, "up/stream.bin")))),
    expected: sha(Buffer.concat(pieces)) };
  // Above partSize minio-js switches to a multipart upload.
  const big = pattern(12 * 1024 * 1024, 5);
  const multi = await client.putObject(bucket, "multi/twelve.bin", Readable.from([big]));
  out.multipart = { etag: multi.etag, sha: sha(Buffer.concat(await collect(await client.getObject(bucket, "multi/twelve.bin")))),
    expected: sha(big) };
  // fPutObject of a 12 MiB file: a known size above partSize, a multipart upload too.
  fs.writeFileSync(path.join(dir, "twelve.bin"), big);
  const fput = await client.fPutObject(bucket, "multi/file.bin", path.join(dir, "twelve.bin"));
  out.fPut = { etag: fput.etag, sha: sha(Buffer.concat(await collect(await client.getObject(bucket, "multi/file.bin")))) };
  await client.copyObject(bucket, "up/copy.bin", `/${bucket}/up/buffer.bin`, new Minio.CopyConditions());
  out.copy = sha(Buffer.concat(await collect(await client.getObject(bucket, "up/copy.bin"))));
  const url = await client.presignedGetObject(bucket, "seed/big.bin", 300);
  const got = await fetch(url);
  out.presigned = { status: got.status, sha: sha(Buffer.from(await got.arrayBuffer())) };
  const putUrl = await client.presignedPutObject(bucket, "up/presigned.bin", 300);
  const presignedPut = await fetch(putUrl, { method: "PUT", body: pattern(1234, 2) });
  out.presignedPut = presignedPut.status;
  await client.removeObject(bucket, "up/copy.bin");
  out.removed = await client.removeObjects(bucket, ["up/stream.bin", "up/never-was.bin"]);
  out.afterRemove = await refusal(() => client.statObject(bucket, "up/copy.bin"));
  fs.rmSync(dir, { recursive: true });
  return out;
}

async function refusals() {
  return {
    put: await refusal(() => client.putObject(bucket, "up/nope.bin", Buffer.from("x"))),
    remove: await refusal(() => client.removeObject(bucket, "seed/big.bin")),
    stat: await refusal(() => client.statObject(bucket, "seed/big.bin")),
  };
}

const scenarios = { readWrite, refusals };
console.log(JSON.stringify(await scenarios[process.argv[2]]()));
