/**
 * The functions' request and answer shapes, re-exported from their own contract
 * (`supabase/functions/_shared/contract.ts`) so the app imports them from one short path. Types
 * only: the bundle gains nothing, and a change to the API's shapes fails `deno check` here.
 *
 * @module
 */
export type * from "../../supabase/functions/_shared/contract.ts";
