/**
 * In-memory stand-ins for the unit tests of the handlers, routes and services: a bucket, the
 * image index, the SQL rebuild primitives (with the rules a caller can see: one running job,
 * leases, the page compare-and-set, the mass-removal guard) and a continuation that only
 * records hand-offs. Integration tests use the real stack instead.
 *
 * @module
 */
import {
  type Authenticator,
  createAuthenticator,
} from "../../supabase/functions/_shared/auth/authenticate.ts";
import type { AuthSettings } from "../../supabase/functions/_shared/auth/settings.ts";
import { SignJWT } from "jose";
import type {
  EntryMetadata,
  ImageIndex,
  IndexEntry,
} from "../../supabase/functions/_shared/images/image_index.ts";
import { filenameProblem } from "../../supabase/functions/_shared/images/names.ts";
import {
  type ImageStorage,
  KeyExistsError,
  type PutOptions,
  SourceChangedError,
  type StoredObject,
} from "../../supabase/functions/_shared/platform/storage.ts";
import type {
  JobMode,
  JobPreview,
  JobSummary,
  RebuildJob,
  RebuildJobs,
} from "../../supabase/functions/s3-image-service/jobs/job_store.ts";
import type {
  Continuation,
  ContinueRequest,
  HandOff,
} from "../../supabase/functions/s3-image-service/jobs/continuation.ts";

/** A database error as postgres.js raises it. */
export const sqlError = (code: string, message = code): Error =>
  Object.assign(new Error(message), { code });

/** An object of the fake bucket. */
export type FakeObject = StoredObject & { bytes: Uint8Array };

/** An in-memory bucket implementing every {@linkcode ImageStorage} call. */
export class FakeStorage implements ImageStorage {
  readonly bucket = "fake-bucket";
  objects = new Map<string, FakeObject>();
  deleted: string[] = [];
  /** Wall time each listing page takes (to make a rebuild spend its budget). */
  listDelayMs = 0;
  /** When set, every listing rejects with it. */
  listError: unknown;
  #etags = 0;

  /** Puts `bytes` at `key` directly, as another client would. */
  seed(key: string, bytes: Uint8Array = new Uint8Array([1]), metadata?: Record<string, string>) {
    this.objects.set(key, {
      key,
      size: bytes.length,
      etag: `etag-${++this.#etags}`,
      lastModified: new Date(1_700_000_000_000),
      contentType: "application/octet-stream",
      metadata,
      bytes,
    });
  }

  put(key: string, body: Uint8Array, options: PutOptions) {
    if (options.onlyIfAbsent && this.objects.has(key)) {
      return Promise.reject(new KeyExistsError(key));
    }
    this.seed(key, body, options.metadata);
    const object = this.objects.get(key)!;
    object.contentType = options.contentType;
    return Promise.resolve({ etag: object.etag, lastModified: object.lastModified });
  }

  copy(source: string, key: string, options: PutOptions & { sourceIfMatch?: string }) {
    const from = this.objects.get(source);
    if (!from) return Promise.reject(Object.assign(new Error("NoSuchKey"), { name: "NoSuchKey" }));
    if (options.sourceIfMatch && from.etag !== options.sourceIfMatch) {
      return Promise.reject(new SourceChangedError(source));
    }
    return this.put(key, from.bytes, options) as Promise<{ etag: string; lastModified: Date }>;
  }

  head(key: string) {
    const object = this.objects.get(key);
    if (!object) return Promise.resolve(null);
    const { bytes: _, ...meta } = object;
    return Promise.resolve(meta);
  }

  getRange(key: string, start: number, end: number) {
    return this.get(key).then((bytes) => bytes.slice(start, end + 1));
  }

  get(key: string) {
    const object = this.objects.get(key);
    return object ? Promise.resolve(object.bytes) : Promise.reject(new Error(`No ${key}`));
  }

  async getWithEtag(key: string) {
    return { bytes: await this.get(key), etag: this.objects.get(key)!.etag };
  }

  delete(key: string) {
    this.deleted.push(key);
    this.objects.delete(key);
    return Promise.resolve();
  }

  async listPage(options: { prefix?: string; token?: string; maxKeys?: number } = {}) {
    if (this.listDelayMs) await new Promise((resolve) => setTimeout(resolve, this.listDelayMs));
    if (this.listError) throw this.listError;
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(options.prefix ?? "")).sort();
    const from = options.token ? keys.findIndex((k) => k > options.token!) : 0;
    const rest = from < 0 ? [] : keys.slice(from);
    const page = rest.slice(0, options.maxKeys ?? 1000);
    return {
      objects: page.map((key) => {
        const { size, etag, lastModified } = this.objects.get(key)!;
        return { key, size, etag, lastModified };
      }),
      nextToken: rest.length > page.length ? page.at(-1) : undefined,
    };
  }

  signedGetUrl(key: string, seconds: number) {
    return Promise.resolve(`https://s3.test/${this.bucket}/${key}?get&expires=${seconds}`);
  }

  signedPutUrl(key: string, options: { contentType: string; contentLength: number }) {
    return Promise.resolve(
      `https://s3.test/${this.bucket}/${key}?put&type=${options.contentType}&length=${options.contentLength}`,
    );
  }
}

/** The image index in memory, following the SQL API's answers (names checked the same way). */
export class FakeIndex implements ImageIndex {
  rows = new Map<string, IndexEntry>();
  /** When set, every call rejects with it. */
  failWith: unknown;

  #check() {
    if (this.failWith) throw this.failWith;
  }

  add(filename: string, metadata: EntryMetadata = {}) {
    this.#check();
    const problem = filenameProblem(filename);
    if (problem) return Promise.reject(new Error(`Cannot add "${filename}": ${problem}`));
    this.rows.set(filename, {
      filename,
      size_bytes: metadata.sizeBytes ?? null,
      etag: metadata.etag ?? null,
      content_type: metadata.contentType ?? null,
      last_modified: metadata.lastModified ?? null,
      width: metadata.width ?? null,
      height: metadata.height ?? null,
      updated_at: new Date(),
    });
    return Promise.resolve();
  }

  remove(filename: string) {
    this.#check();
    return Promise.resolve(this.rows.delete(filename));
  }

  get(filename: string) {
    this.#check();
    return Promise.resolve(this.rows.get(filename) ?? null);
  }

  lookup(filenames: string[]) {
    this.#check();
    return Promise.resolve(filenames.flatMap((name) => this.rows.get(name) ?? []));
  }

  search({ prefix = "", after, pageSize = 100 }: {
    prefix?: string;
    after?: string;
    pageSize?: number;
  }) {
    this.#check();
    const names = [...this.rows.keys()].sort()
      .filter((name) => name.startsWith(prefix) && (after === undefined || name > after));
    return Promise.resolve(names.slice(0, pageSize).map((name) => this.rows.get(name)!));
  }

  stats() {
    this.#check();
    return Promise.resolve({ files: this.rows.size });
  }
}

/**
 * The SQL rebuild primitives over a {@linkcode FakeIndex}: one running job, leases, the
 * continuation-token compare-and-set, and a finish that applies the delta unless it would
 * remove more than half of the index without force (then `needs_confirmation`).
 */
export class FakeJobs implements RebuildJobs {
  jobs = new Map<number, RebuildJob>();
  staged = new Map<number, Map<string, { size: number; etag: string }>>();
  #nextId = 1;

  constructor(readonly index: FakeIndex) {}

  #job(id: number): RebuildJob {
    const job = this.jobs.get(id);
    if (!job) throw sqlError("P0002", `Rebuild job ${id} does not exist`);
    return job;
  }

  #running(id: number): RebuildJob {
    const job = this.#job(id);
    if (job.status !== "running") {
      throw sqlError("55000", `Rebuild job ${id} is not running (status: ${job.status})`);
    }
    return job;
  }

  /** Adds a job as the SQL API would have it (tests set the state they need). */
  add(patch: Partial<RebuildJob> = {}): RebuildJob {
    const id = this.#nextId++;
    const job: RebuildJob = {
      id,
      mode: "rebuild",
      status: "running",
      started_by: "test",
      started_at: new Date(Date.now() - 1000).toISOString(),
      finished_at: null,
      continuation_token: null,
      listing_complete: false,
      pages: 0,
      listed: 0,
      skipped: 0,
      inserted: 0,
      updated: 0,
      removed: 0,
      error: null,
      force: false,
      lease_owner: null,
      lease_expires_at: null,
      lease_seconds: 60,
      invocations: [],
      summary: null,
      ...patch,
    };
    this.jobs.set(id, job);
    this.staged.set(id, new Map());
    return job;
  }

  start(startedBy: string, mode: JobMode, force = false) {
    const running = [...this.jobs.values()].find((job) => job.status === "running");
    if (running) {
      return Promise.resolve({
        started: false,
        job: structuredClone(running),
        message: `Job ${running.id} is already running`,
      });
    }
    const job = this.add({ mode, started_by: startedBy, force });
    return Promise.resolve({ started: true, job: structuredClone(job) });
  }

  force(jobId: number) {
    const job = this.#running(jobId);
    job.force = true;
    return Promise.resolve(structuredClone(job));
  }

  claim(jobId: number, worker: string, leaseSeconds: number) {
    const job = this.#job(jobId);
    const held = job.lease_owner && job.lease_owner !== worker &&
      new Date(job.lease_expires_at!).getTime() > Date.now();
    if (job.status !== "running" || held) return Promise.resolve(null);
    job.lease_owner = worker;
    job.lease_expires_at = new Date(Date.now() + leaseSeconds * 1000).toISOString();
    return Promise.resolve(structuredClone(job));
  }

  stagePage(
    jobId: number,
    worker: string,
    page: Parameters<RebuildJobs["stagePage"]>[2],
  ) {
    const job = this.#running(jobId);
    if (job.lease_owner !== worker) throw sqlError("40001", "lease lost");
    if (job.listing_complete || job.continuation_token !== page.previousToken) {
      throw sqlError("40001", "the page was staged already");
    }
    for (const object of page.objects) {
      this.staged.get(jobId)!.set(object.key, { size: object.size, etag: object.etag });
    }
    job.continuation_token = page.nextToken;
    job.listing_complete = page.nextToken === null;
    job.pages++;
    job.listed += page.objects.length;
    return Promise.resolve(structuredClone(job));
  }

  recordInvocation() {
    return Promise.resolve();
  }

  #delta(jobId: number) {
    const listed = [...this.staged.get(jobId)!].filter(([key]) => !filenameProblem(key));
    const names = new Set(listed.map(([key]) => key));
    const toInsert = listed.filter(([key]) => !this.index.rows.has(key)).map(([key]) => key);
    const changed = listed.filter(([key, o]) =>
      this.index.rows.has(key) && this.index.rows.get(key)!.etag !== o.etag
    ).map(([key]) => key);
    const toRemove = [...this.index.rows.keys()].filter((key) => !names.has(key));
    return { listed, toInsert, changed, toRemove };
  }

  preview(jobId: number, sampleLimit: number): Promise<JobPreview> {
    const { toInsert, changed, toRemove } = this.#delta(jobId);
    return Promise.resolve({
      job_id: jobId,
      to_insert: toInsert.length,
      to_update: changed.length,
      to_remove: toRemove.length,
      skipped: this.#job(jobId).listed - this.#delta(jobId).listed.length,
      missing_from_index: toInsert.slice(0, sampleLimit),
      missing_from_bucket: toRemove.slice(0, sampleLimit),
      changed: changed.slice(0, sampleLimit),
    });
  }

  finish(jobId: number) {
    const job = this.#running(jobId);
    if (!job.listing_complete) throw sqlError("55000", "the listing is not complete");
    const { listed, toInsert, changed, toRemove } = this.#delta(jobId);
    const ended = new Date().toISOString();
    if (toRemove.length * 2 > this.index.rows.size && !job.force) {
      Object.assign(job, {
        status: "needs_confirmation",
        finished_at: ended,
        lease_owner: null,
        summary: {
          ...job.summary,
          guard: {
            index_count: this.index.rows.size,
            would_insert: toInsert.length,
            would_update: changed.length,
            would_remove: toRemove.length,
            removed_samples: toRemove.slice(0, 10),
          },
        },
      });
      return Promise.resolve(structuredClone(job));
    }
    for (const key of toRemove) this.index.rows.delete(key);
    for (const [key, object] of listed) {
      if (toInsert.includes(key) || changed.includes(key)) {
        void this.index.add(key, { sizeBytes: object.size, etag: object.etag });
      }
    }
    Object.assign(job, {
      status: "succeeded",
      finished_at: ended,
      lease_owner: null,
      inserted: toInsert.length,
      updated: changed.length,
      removed: toRemove.length,
      skipped: job.listed - listed.length,
    });
    return Promise.resolve(structuredClone(job));
  }

  fail(jobId: number, error: string) {
    const job = this.#running(jobId);
    Object.assign(job, { status: "failed", error, finished_at: new Date().toISOString() });
    return Promise.resolve(structuredClone(job));
  }

  cancel(jobId: number) {
    const job = this.#running(jobId);
    Object.assign(job, { status: "cancelled", finished_at: new Date().toISOString() });
    return Promise.resolve(structuredClone(job));
  }

  status(jobId?: number) {
    const job = jobId === undefined ? [...this.jobs.values()].at(-1) : this.jobs.get(jobId);
    return Promise.resolve(job ? { job: structuredClone(job), now: new Date() } : null);
  }

  annotate(jobId: number, patch: JobSummary) {
    const job = this.#job(jobId);
    job.summary = { ...job.summary, ...patch };
    return Promise.resolve();
  }
}

/** A continuation that records what it was asked to hand on (nothing runs). */
export class RecordingContinuation implements Continuation {
  scheduled: ContinueRequest[] = [];
  schedule(request: ContinueRequest) {
    this.scheduled.push(request);
    return Promise.resolve<HandOff>("called");
  }
}

/** The project keys the handler tests' process environment carries (fixed: env is shared). */
export const TEST_KEYS = {
  publishable: "sb_publishable_UNITUNITUNITUNITUNITUN_aaaaaaaa",
  secret: "sb_secret_UNITUNITUNITUNITUNITUNIT_bbbbbbbb",
  legacyJwtSecret: "unit-tests-legacy-jwt-secret-at-least-32-chars",
};

/** The auth settings of the unit tests' project: its API keys and a legacy HS256 secret. */
export const TEST_AUTH_SETTINGS: AuthSettings = {
  publishableKeys: [TEST_KEYS.publishable],
  secretKeys: [TEST_KEYS.secret],
  legacyJwtSecret: TEST_KEYS.legacyJwtSecret,
};

/**
 * An authenticator that accepts the tokens {@linkcode headersFor} signs, built as a function's
 * composition root builds its own (no environment involved).
 */
export function testAuthenticator(): Authenticator {
  return createAuthenticator(TEST_AUTH_SETTINGS);
}

/** Who a test request comes from. */
export type TestCaller =
  | "none"
  | "anon"
  | "authenticated"
  | "user_metadata_admin"
  | "manager"
  | "admin"
  | "service";

/** Headers of a request from `who`, as supabase-js sends them. */
export function headersFor(
  who: TestCaller,
  sub = "user-1",
): Promise<Record<string, string>> {
  const user = (claims: Record<string, unknown>) =>
    new SignJWT({ role: "authenticated", sub, email: `${sub}@example.test`, ...claims })
      .setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime("10m")
      .sign(new TextEncoder().encode(TEST_KEYS.legacyJwtSecret));
  const bearer = async (token: string | Promise<string>) => ({
    apikey: TEST_KEYS.publishable,
    authorization: `Bearer ${await token}`,
  });
  switch (who) {
    case "none":
      return Promise.resolve({});
    case "anon":
      return bearer(TEST_KEYS.publishable);
    case "authenticated":
      return bearer(user({}));
    case "user_metadata_admin":
      return bearer(user({ user_metadata: { role: "admin" } }));
    case "manager":
    case "admin":
      return bearer(user({ app_metadata: { role: who } }));
    case "service":
      return Promise.resolve({
        apikey: TEST_KEYS.secret,
        authorization: `Bearer ${TEST_KEYS.secret}`,
      });
  }
}

/** A JSON request to `path` of function `fn` from `who`. */
export async function requestAs(
  who: TestCaller,
  method: string,
  url: string,
  body?: unknown,
  sub?: string,
): Promise<Request> {
  const headers = await headersFor(who, sub);
  if (body !== undefined) headers["content-type"] = "application/json";
  return new Request(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
