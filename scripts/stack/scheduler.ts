/**
 * The local stand-in for the pg_cron job hosted Supabase runs (migration
 * `20261202170100_resume_stalled_jobs.sql`): every interval, `POST
 * /functions/v1/s3-image-service/rebuild/resume` with the secret key, so a rebuild whose worker
 * died finishes with nobody watching, as on hosted. The local Postgres has neither pg_cron nor
 * pg_net, so the stack makes the call itself; the function does the same work either way.
 *
 * @module
 */

/** Options for {@linkcode startResumeScheduler}. */
export interface ResumeSchedulerOptions {
  /** The functions base URL, e.g. `http://127.0.0.1:54321/functions/v1`. */
  functionsUrl: string;
  /** A secret key (`sb_secret_…`): the resume route is for service_role only. */
  secretKey: string;
  /** Time between calls. Hosted pg_cron runs every minute; tests use a second or two. */
  intervalMs: number;
  fetch?: typeof fetch;
  /** Where unexpected answers are reported. Default `console.error`. */
  log?: (message: string) => void;
}

/** A running scheduler. */
export interface ResumeScheduler {
  /** Makes one call now (what each interval does); resolves with the function's answer. */
  tick(): Promise<{ status: number; body: unknown } | null>;
  /** Stops the timer and waits for a call in flight. */
  stop(): Promise<void>;
}

/** The route the scheduler calls. */
export function resumeUrl(functionsUrl: string): string {
  return `${functionsUrl.replace(/\/+$/, "")}/s3-image-service/rebuild/resume`;
}

/**
 * Calls the resume route every `intervalMs` until stopped. A failed call is logged and the next
 * interval tries again, as pg_cron would.
 *
 * @example
 * ```ts
 * const scheduler = startResumeScheduler({ functionsUrl, secretKey, intervalMs: 60_000 });
 * // …
 * await scheduler.stop();
 * ```
 */
export function startResumeScheduler(options: ResumeSchedulerOptions): ResumeScheduler {
  const doFetch = options.fetch ?? fetch;
  const log = options.log ?? ((message: string) => console.error(message));
  const url = resumeUrl(options.functionsUrl);
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: Promise<unknown> = Promise.resolve();

  const call = async () => {
    try {
      const response = await doFetch(url, {
        method: "POST",
        headers: {
          apikey: options.secretKey,
          authorization: `Bearer ${options.secretKey}`,
          "content-type": "application/json",
        },
        body: "{}",
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch { /* keep the text */ }
      if (response.status !== 200) log(`resume scheduler: ${url} answered ${response.status}`);
      return { status: response.status, body };
    } catch (error) {
      if (!stopped) log(`resume scheduler: ${url} failed: ${error}`);
      return null;
    }
  };

  const tick = () => {
    const pending = call();
    inFlight = pending;
    return pending;
  };

  const loop = () => {
    timer = setTimeout(async () => {
      await tick();
      if (!stopped) loop();
    }, options.intervalMs);
  };
  loop();

  return {
    tick,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight.catch(() => {});
    },
  };
}
