/**
 * `byte_scan.wat` assembled, as base64 (820 bytes), so the function bundles it like any module.
 * Generated; after editing the .wat, run from this folder:
 *
 * ```sh
 * npx -y -p wabt@1.0.39 wat2wasm byte_scan.wat -o /tmp/byte_scan.wasm && base64 -w0 /tmp/byte_scan.wasm
 * ```
 *
 * and paste the output below (byte_scan_test.ts checks both scans against their JavaScript
 * reference, so a mistake shows there).
 *
 * @module
 */

/** The module's bytes, base64. */
export const BYTE_SCAN_WASM_BASE64 =
  "AGFzbQEAAAABBwFgAn9/AX8DAwIAAAUDAQADByYDBm1lbW9yeQIACG5leHRQYWlyAAAObmV4dEpwZWdNYXJrZXIAAQqgBALMAgIEfwJ7IAAhAiABQQFrIQMCQANAIAIgA04NAUGAgAQgAmr9AAQAIQZBgYAEIAJq/QAEACEHIAb9DDw8PDw8PDw8PDw8PDw8PDz9IyAH/Qw6Ojo6Ojo6Ojo6Ojo6Ojo6/SP9UCAG/QxQUFBQUFBQUFBQUFBQUFBQ/SMgB/0MS0tLS0tLS0tLS0tLS0tLS/0j/U4gBv0MUlJSUlJSUlJSUlJSUlJSUv0jIAf9DGFhYWFhYWFhYWFhYWFhYWH9I/1OIAb9DDc3Nzc3Nzc3Nzc3Nzc3Nzf9IyAH/Qx6enp6enp6enp6enp6enp6/SP9Tv1Q/VD9UP1kIQQCQANAIARFDQEgAiAEaGohBSAFIANODQNBgIAEIAVqLQAAQQh0QYGABCAFai0AAHItAAAEQCAFDwsgBCAEQQFrcSEEDAALCyACQRBqIQIMAAsLQX8LzwECBH8BeyAAIQIgAUEBayEDAkADQCACIANODQFBgYAEIAJq/QAEACEGQYCABCACav0ABAD9DP/////////////////////9IyAG/QwAAAAAAAAAAAAAAAAAAAAA/SMgBv0M//////////////////////0j/VAgBv0M+Pj4+Pj4+Pj4+Pj4+Pj4+P1O/QzQ0NDQ0NDQ0NDQ0NDQ0NDQ/SP9UP1P/WQhBCAEBEAgAiAEaGohBSAFIANIBEAgBQ8LDAILIAJBEGohAgwACwtBfws=";
