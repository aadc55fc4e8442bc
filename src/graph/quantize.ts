/**
 * Weight quantisation for the int8 inference path: symmetric int8 per output channel, done once
 * at load time. Symmetric (zero point 0) keeps the integer GEMM free of zero-point corrections
 * on the weight side; per-channel scales keep small-norm output channels from losing precision
 * to the layer's largest one.
 */
export interface QuantizedMatrix {
  /** [in, out] row-major int8: the MatMul layout (x [.., in] times B). */
  readonly data: Int8Array;
  /** [out]: column c's float value is data[., c] * scale[c]. */
  readonly scale: Float32Array;
}

/**
 * Quantises a torch Linear weight stored [out, in] (row-major) into the transposed [in, out]
 * int8 matrix with one scale per output channel: scale = max|w_row| / 127, q = round(w / scale).
 * The range is the symmetric [-127, 127] (never -128), as ONNX Runtime's quantiser does.
 */
export function quantizePerOutputChannel(w: Float32Array | Float64Array, outF: number, inF: number): QuantizedMatrix {
  if (w.length !== outF * inF) throw new RangeError(`quantizePerOutputChannel: ${w.length} values for [${outF}, ${inF}]`);
  const data = new Int8Array(inF * outF);
  const scale = new Float32Array(outF);
  for (let o = 0; o < outF; o++) {
    let m = 0;
    for (let i = 0; i < inF; i++) m = Math.max(m, Math.abs(w[o * inF + i]!));
    // An all-zero channel gets scale 1 (any scale reproduces zeros; 0 would divide by zero).
    const s = m > 0 ? m / 127 : 1;
    scale[o] = s;
    for (let i = 0; i < inF; i++) data[i * outF + o] = Math.max(-127, Math.min(127, Math.round(w[o * inF + i]! / s)));
  }
  return { data, scale };
}
