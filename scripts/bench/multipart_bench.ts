/**
 * The upload function's multipart parser beside its two yardsticks, in one process:
 *
 * - worst case vs any body: 10 MiB of "a" under a boundary of 70 "a"s (every byte matches the
 *   search's last byte) against 10 MiB of random bytes; linear parsing keeps the ratio near 1;
 * - ours vs the runtime's `Request.formData()` on a 1 MiB image body (the layout issue's rule:
 *   use the runtime's parser unless it costs more than 10% in time or memory).
 *
 * Run alone with `deno run -A scripts/bench/multipart_bench.ts`; `upload_bench.ts` adds its
 * rows to the upload report.
 *
 * @module
 */
import { parseMultipart } from "../../supabase/functions/upload-to-s3/multipart.ts";
import { type BenchRow, median, printReport } from "./report.ts";

const encoder = new TextEncoder();

function multipartBody(content: Uint8Array, boundary: string): Uint8Array<ArrayBuffer> {
  const head = encoder.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n` +
      "Content-Type: image/jpeg\r\n\r\n",
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  const body = new Uint8Array(head.length + content.length + tail.length);
  body.set(head);
  body.set(content, head.length);
  body.set(tail, head.length + content.length);
  return body;
}

function randomBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(bytes.subarray(at, at + 65536));
  return bytes;
}

/** Median wall ms of `rounds` runs of `work`, after one warm-up run. */
async function timeMs(rounds: number, work: () => unknown): Promise<number[]> {
  await work();
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
  }
  return times;
}

const round2 = (value: number) => Math.round(value * 100) / 100;
const spread = (times: number[]) =>
  `${round2(Math.min(...times))}–${round2(Math.max(...times))} ms`;

/** Rows for the multipart parser; `rounds` runs of each measurement, alternating. */
export async function runMultipartBench(rounds = 9): Promise<BenchRow[]> {
  const size = 10 * 1024 * 1024;
  const worstBoundary = "a".repeat(70);
  const worst = multipartBody(new Uint8Array(size).fill(0x61), worstBoundary);
  const boundary = "----formdata-bench-0123456789";
  const typical = multipartBody(randomBytes(size), boundary);
  const worstTimes = await timeMs(rounds, () => parseMultipart(worst, worstBoundary));
  const typicalTimes = await timeMs(rounds, () => parseMultipart(typical, boundary));

  const image = multipartBody(randomBytes(1024 * 1024), boundary);
  const contentType = `multipart/form-data; boundary=${boundary}`;
  const ours = await timeMs(rounds * 3, () => parseMultipart(image, boundary));
  const runtime = await timeMs(rounds * 3, async () => {
    const form = await new Request("http://bench/", {
      method: "POST",
      headers: { "content-type": contentType },
      body: image,
    }).formData();
    await (form.get("file") as File).bytes();
  });
  return [
    {
      name: "multipart parse, 10 MiB of 'a' under a 70-'a' boundary (worst case)",
      value: round2(median(worstTimes)),
      unit: "ms",
      baseline: round2(median(typicalTimes)),
      ratio: round2(median(worstTimes) / median(typicalTimes)),
      note: `baseline: 10 MiB of random bytes; median of ${rounds}, spread ${
        spread(worstTimes)
      } vs ${spread(typicalTimes)}; linear: ratio near 1`,
    },
    {
      name: "multipart parse of a 1 MiB image: ours vs Request.formData()",
      value: round2(median(ours)),
      unit: "ms",
      baseline: round2(median(runtime)),
      ratio: round2(median(ours) / median(runtime)),
      note: `median of ${rounds * 3}; ours parses in place (no copy of the file), formData() ` +
        "copies the part into a File",
    },
  ];
}

if (import.meta.main) printReport("multipart", await runMultipartBench());
