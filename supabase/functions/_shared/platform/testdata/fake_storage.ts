/**
 * An in-memory bucket behind the {@linkcode ImageStorage} interface, for unit tests of the
 * handlers, routes and services. Integration tests use the real S3 protocol instead.
 *
 * @module
 */
import {
  type ImageStorage,
  KeyExistsError,
  type ListOptions,
  type PutOptions,
  SourceChangedError,
  type StoredObject,
} from "../storage.ts";

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
  /** Every listing call's options, in order. */
  listCalls: ListOptions[] = [];
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
    // As on S3, a single-part object's copy keeps its ETag (the MD5 of the same bytes).
    const bytes = from.bytes;
    const etag = from.etag;
    return this.put(key, bytes, options).then((written) => {
      this.objects.get(key)!.etag = etag;
      return { ...written, etag, lastModified: written.lastModified! };
    });
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

  delete(key: string, options: { ifMatch?: string } = {}) {
    const object = this.objects.get(key);
    if (options.ifMatch && object && object.etag !== options.ifMatch) {
      return Promise.reject(new Error(`PreconditionFailed: "${key}" has another ETag`));
    }
    this.deleted.push(key);
    this.objects.delete(key);
    return Promise.resolve();
  }

  async listPage(options: ListOptions = {}) {
    this.listCalls.push({ ...options });
    if (this.listDelayMs) await new Promise((resolve) => setTimeout(resolve, this.listDelayMs));
    if (this.listError) throw this.listError;
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(options.prefix ?? "")).sort();
    // As on S3: the token (here the last key of the previous page) wins over StartAfter.
    const after = options.token ?? options.startAfter;
    const from = after !== undefined ? keys.findIndex((k) => k > after) : 0;
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
