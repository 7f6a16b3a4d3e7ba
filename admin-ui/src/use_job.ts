/**
 * Follows a job: polls its status URL once a second while it runs, so progress is live and the
 * status GET also hands a stalled job to a new worker (the function does that on every GET).
 *
 * @module
 */
import { useEffect, useState } from "preact/hooks";
import type { Api } from "./api.ts";
import { isSettled } from "./job_progress.ts";
import type { Job } from "./types.ts";

/** How often a running job is asked for its state. */
export const POLL_MS = 1000;

/** The job, a setter to follow another one, and the last polling error (shown, not hidden). */
export function useJob(api: Api, onSettled?: (job: Job) => void) {
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<unknown>(null);
  const running = job !== null && !isSettled(job);
  const jobId = job?.id;
  useEffect(() => {
    if (!running || jobId === undefined) return;
    let live = true;
    const timer = setInterval(async () => {
      try {
        const { data } = await api.call<{ job: Job }>(`s3-image-service/rebuild/${jobId}`);
        if (!live) return;
        setError(null);
        setJob(data.job);
        if (isSettled(data.job)) onSettled?.(data.job);
      } catch (caught) {
        if (live) setError(caught);
      }
    }, POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [api, running, jobId]);
  return { job, setJob, error, setError };
}
