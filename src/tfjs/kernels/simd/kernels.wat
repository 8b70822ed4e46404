;; graft's own wasm SIMD kernels, for work that neither XNNPACK (through tfjs-backend-wasm) nor
;; JS does well. The module imports the threaded tfjs-backend-wasm build's shared memory, so it
;; reads and writes tensors in place; simd.ts instantiates it on every heap thread
;; (heap-workers.ts). Compiled to kernels.wasm at build time (scripts/build-wasm.mjs, wabt).
;; Pointers are byte addresses in that memory.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Depthwise filter gradient, channel multiplier 1, channels c a multiple of 4:
  ;;   dw[u, v, c] += Σ_{b, i, j} x[b, i·sh + u·dh − pt, j·sw + v·dv − pl, c] · dy[b, i, j, c]
  ;; x [n, h, w, c], dy [n, oh, ow, c], dw [kh, kw, c], NHWC float32; dw is added to (zero it
  ;; first). Pixels outside, the inner loop is 4 channels at a time over one pixel of x and dy
  ;; and one tap of dw, which for resnet/MobileNet widths stays in L1 across the pixel's taps.
  (func (export "depthwiseFilterGradient")
    (param $x i32) (param $dy i32) (param $dw i32)
    (param $n i32) (param $h i32) (param $w i32) (param $c i32)
    (param $oh i32) (param $ow i32) (param $kh i32) (param $kw i32)
    (param $sh i32) (param $sw i32) (param $dh i32) (param $dv i32)
    (param $pt i32) (param $pl i32)
    (local $b i32) (local $i i32) (local $j i32) (local $u i32) (local $v i32)
    (local $row i32) (local $col i32) (local $dyPixel i32) (local $xPixel i32) (local $tap i32)
    (local $k i32) (local $kEnd i32) (local $pixelBytes i32)
    (local.set $pixelBytes (i32.shl (local.get $c) (i32.const 2)))
    (local.set $kEnd (local.get $pixelBytes))
    (local.set $b (i32.const 0))
    (block $bDone (loop $bLoop
      (br_if $bDone (i32.ge_s (local.get $b) (local.get $n)))
      (local.set $i (i32.const 0))
      (block $iDone (loop $iLoop
        (br_if $iDone (i32.ge_s (local.get $i) (local.get $oh)))
        (local.set $j (i32.const 0))
        (block $jDone (loop $jLoop
          (br_if $jDone (i32.ge_s (local.get $j) (local.get $ow)))
          (local.set $dyPixel
            (i32.add (local.get $dy)
              (i32.mul
                (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $oh)) (local.get $i)) (local.get $ow)) (local.get $j))
                (local.get $pixelBytes))))
          (local.set $u (i32.const 0))
          (block $uDone (loop $uLoop
            (br_if $uDone (i32.ge_s (local.get $u) (local.get $kh)))
            (local.set $row
              (i32.sub (i32.add (i32.mul (local.get $i) (local.get $sh)) (i32.mul (local.get $u) (local.get $dh))) (local.get $pt)))
            (if (i32.and (i32.ge_s (local.get $row) (i32.const 0)) (i32.lt_s (local.get $row) (local.get $h)))
              (then
                (local.set $v (i32.const 0))
                (block $vDone (loop $vLoop
                  (br_if $vDone (i32.ge_s (local.get $v) (local.get $kw)))
                  (local.set $col
                    (i32.sub (i32.add (i32.mul (local.get $j) (local.get $sw)) (i32.mul (local.get $v) (local.get $dv))) (local.get $pl)))
                  (if (i32.and (i32.ge_s (local.get $col) (i32.const 0)) (i32.lt_s (local.get $col) (local.get $w)))
                    (then
                      (local.set $xPixel
                        (i32.add (local.get $x)
                          (i32.mul
                            (i32.add (i32.mul (i32.add (i32.mul (local.get $b) (local.get $h)) (local.get $row)) (local.get $w)) (local.get $col))
                            (local.get $pixelBytes))))
                      (local.set $tap
                        (i32.add (local.get $dw)
                          (i32.mul (i32.add (i32.mul (local.get $u) (local.get $kw)) (local.get $v)) (local.get $pixelBytes))))
                      (local.set $k (i32.const 0))
                      (block $kDone (loop $kLoop
                        (br_if $kDone (i32.ge_u (local.get $k) (local.get $kEnd)))
                        (v128.store (i32.add (local.get $tap) (local.get $k))
                          (f32x4.add
                            (v128.load (i32.add (local.get $tap) (local.get $k)))
                            (f32x4.mul
                              (v128.load (i32.add (local.get $xPixel) (local.get $k)))
                              (v128.load (i32.add (local.get $dyPixel) (local.get $k))))))
                        (local.set $k (i32.add (local.get $k) (i32.const 16)))
                        (br $kLoop)))))
                  (local.set $v (i32.add (local.get $v) (i32.const 1)))
                  (br $vLoop)))))
            (local.set $u (i32.add (local.get $u) (i32.const 1)))
            (br $uLoop)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $jLoop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iLoop)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $bLoop)))))
