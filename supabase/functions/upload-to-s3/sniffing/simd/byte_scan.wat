;; The scans of an upload that read every byte, 16 bytes a step (WebAssembly SIMD).
;; byte_scan.ts loads this (assembled into byte_scan_wasm.ts, which says how) and keeps the
;; plain JavaScript searches as the reference and the fallback.
;;
;; Memory: bytes [0, 65536) hold the pair table (set by byte_scan.ts); the window of the file being
;; scanned is copied to 65536 on, up to 65536 + 127 bytes, and 16-byte loads read up to 143 bytes
;; past its end (stale bytes there are never taken for a hit: each lane is checked against the
;; window's end); a needle of up to 128 bytes sits at 196480.
(module
  (memory (export "memory") 3)

  ;; The first `at` in [start, len - 1) of the window where table[(w[at] << 8) | w[at + 1]] != 0,
  ;; or -1.
  ;; The vector test is a superset of the table (byte_scan.ts checks that it is): a pair that
  ;; starts with "<", ends with ":", or is "PK", "Ra" or "7z". Only its lanes are looked up.
  (func (export "nextPair") (param $start i32) (param $len i32) (result i32)
    (local $at i32) (local $last i32) (local $mask i32) (local $p i32)
    (local $v0 v128) (local $v1 v128)
    (local.set $at (local.get $start))
    (local.set $last (i32.sub (local.get $len) (i32.const 1)))
    (block $none
      (loop $blocks
        (br_if $none (i32.ge_s (local.get $at) (local.get $last)))
        (local.set $v0 (v128.load (i32.add (i32.const 65536) (local.get $at))))
        (local.set $v1 (v128.load (i32.add (i32.const 65537) (local.get $at))))
        (local.set $mask (i8x16.bitmask
          (v128.or
            (v128.or
              (i8x16.eq (local.get $v0) (v128.const i8x16 0x3c 0x3c 0x3c 0x3c 0x3c 0x3c 0x3c 0x3c 0x3c 0x3c 0x3c 0x3c 0x3c 0x3c 0x3c 0x3c))
              (i8x16.eq (local.get $v1) (v128.const i8x16 0x3a 0x3a 0x3a 0x3a 0x3a 0x3a 0x3a 0x3a 0x3a 0x3a 0x3a 0x3a 0x3a 0x3a 0x3a 0x3a)))
            (v128.or
              (v128.and
                (i8x16.eq (local.get $v0) (v128.const i8x16 0x50 0x50 0x50 0x50 0x50 0x50 0x50 0x50 0x50 0x50 0x50 0x50 0x50 0x50 0x50 0x50))
                (i8x16.eq (local.get $v1) (v128.const i8x16 0x4b 0x4b 0x4b 0x4b 0x4b 0x4b 0x4b 0x4b 0x4b 0x4b 0x4b 0x4b 0x4b 0x4b 0x4b 0x4b)))
              (v128.or
                (v128.and
                  (i8x16.eq (local.get $v0) (v128.const i8x16 0x52 0x52 0x52 0x52 0x52 0x52 0x52 0x52 0x52 0x52 0x52 0x52 0x52 0x52 0x52 0x52))
                  (i8x16.eq (local.get $v1) (v128.const i8x16 0x61 0x61 0x61 0x61 0x61 0x61 0x61 0x61 0x61 0x61 0x61 0x61 0x61 0x61 0x61 0x61)))
                (v128.and
                  (i8x16.eq (local.get $v0) (v128.const i8x16 0x37 0x37 0x37 0x37 0x37 0x37 0x37 0x37 0x37 0x37 0x37 0x37 0x37 0x37 0x37 0x37))
                  (i8x16.eq (local.get $v1) (v128.const i8x16 0x7a 0x7a 0x7a 0x7a 0x7a 0x7a 0x7a 0x7a 0x7a 0x7a 0x7a 0x7a 0x7a 0x7a 0x7a 0x7a))))))))
        (block $next
          (loop $lanes
            (br_if $next (i32.eqz (local.get $mask)))
            (local.set $p (i32.add (local.get $at) (i32.ctz (local.get $mask))))
            ;; Lanes ascend: one past the window's last pair means none of the rest is in it.
            (br_if $none (i32.ge_s (local.get $p) (local.get $last)))
            (if (i32.load8_u
                  (i32.or
                    (i32.shl (i32.load8_u (i32.add (i32.const 65536) (local.get $p))) (i32.const 8))
                    (i32.load8_u (i32.add (i32.const 65537) (local.get $p)))))
              (then (return (local.get $p))))
            (local.set $mask (i32.and (local.get $mask) (i32.sub (local.get $mask) (i32.const 1))))
            (br $lanes)))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (br $blocks)))
    (i32.const -1))

  ;; The first `at` in [start, len - 1) of the window where w[at] is 0xFF and w[at + 1] is
  ;; neither 0x00 (a stuffed byte), 0xFF (fill) nor 0xD0-0xD7 (a restart marker): a JPEG marker
  ;; after entropy-coded data. -1 when there is none.
  (func (export "nextJpegMarker") (param $start i32) (param $len i32) (result i32)
    (local $at i32) (local $last i32) (local $mask i32) (local $p i32)
    (local $v1 v128)
    (local.set $at (local.get $start))
    (local.set $last (i32.sub (local.get $len) (i32.const 1)))
    (block $none
      (loop $blocks
        (br_if $none (i32.ge_s (local.get $at) (local.get $last)))
        (local.set $v1 (v128.load (i32.add (i32.const 65537) (local.get $at))))
        (local.set $mask (i8x16.bitmask
          (v128.andnot
            (i8x16.eq
              (v128.load (i32.add (i32.const 65536) (local.get $at)))
              (v128.const i8x16 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1))
            (v128.or
              (v128.or
                (i8x16.eq (local.get $v1) (v128.const i8x16 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0))
                (i8x16.eq (local.get $v1) (v128.const i8x16 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1 -1)))
              (i8x16.eq
                (v128.and (local.get $v1) (v128.const i8x16 0xf8 0xf8 0xf8 0xf8 0xf8 0xf8 0xf8 0xf8 0xf8 0xf8 0xf8 0xf8 0xf8 0xf8 0xf8 0xf8))
                (v128.const i8x16 0xd0 0xd0 0xd0 0xd0 0xd0 0xd0 0xd0 0xd0 0xd0 0xd0 0xd0 0xd0 0xd0 0xd0 0xd0 0xd0))))))
        (if (local.get $mask)
          (then
            (local.set $p (i32.add (local.get $at) (i32.ctz (local.get $mask))))
            (if (i32.lt_s (local.get $p) (local.get $last)) (then (return (local.get $p))))
            (br $none)))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (br $blocks)))
    (i32.const -1))
;; The first `at` in [start, len - m] of the window where the m bytes at 196480 (the needle,
  ;; 2 <= m <= 128) occur, or -1. Lanes whose first and last bytes match the needle's are
  ;; compared in full. A match compared past its first byte holds no second copy of that byte
  ;; when the needle's first byte occurs in it only there (a multipart delimiter: CR), so the
  ;; work stays linear in the window for such needles.
  (func (export "findNeedle") (param $start i32) (param $len i32) (param $m i32) (result i32)
    (local $at i32) (local $lastStart i32) (local $mask i32) (local $p i32) (local $k i32)
    (local $first v128) (local $final v128)
    (local.set $first (i8x16.splat (i32.load8_u (i32.const 196480))))
    (local.set $final
      (i8x16.splat (i32.load8_u (i32.add (i32.const 196479) (local.get $m)))))
    (local.set $lastStart (i32.sub (local.get $len) (local.get $m)))
    (local.set $at (local.get $start))
    (block $none
      (loop $blocks
        (br_if $none (i32.gt_s (local.get $at) (local.get $lastStart)))
        (local.set $mask (i8x16.bitmask
          (v128.and
            (i8x16.eq (v128.load (i32.add (i32.const 65536) (local.get $at))) (local.get $first))
            (i8x16.eq
              (v128.load (i32.add (i32.const 65535) (i32.add (local.get $at) (local.get $m))))
              (local.get $final)))))
        (block $next
          (loop $lanes
            (br_if $next (i32.eqz (local.get $mask)))
            (local.set $p (i32.add (local.get $at) (i32.ctz (local.get $mask))))
            (br_if $none (i32.gt_s (local.get $p) (local.get $lastStart)))
            (local.set $k (i32.const 1))
            (block $differ
              (loop $compare
                (if (i32.ge_s (local.get $k) (i32.sub (local.get $m) (i32.const 1)))
                  (then (return (local.get $p))))
                (br_if $differ
                  (i32.ne
                    (i32.load8_u (i32.add (i32.const 65536) (i32.add (local.get $p) (local.get $k))))
                    (i32.load8_u (i32.add (i32.const 196480) (local.get $k)))))
                (local.set $k (i32.add (local.get $k) (i32.const 1)))
                (br $compare)))
            (local.set $mask (i32.and (local.get $mask) (i32.sub (local.get $mask) (i32.const 1))))
            (br $lanes)))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))
        (br $blocks)))
    (i32.const -1))
)
