/**
 * Emits a Graph as a serialised ONNX ModelProto (opset 18), ready for
 * `InferenceSession.create(bytes)`. Initializers travel as raw little-endian bytes.
 */
import onnxProto from "onnx-proto";
import { MS_DOMAIN_OPS, type Attr, type DType, type Graph, type Value } from "./ir.js";

const { onnx } = onnxProto;

export const OPSET = 18;

const DTYPE_CODE: Record<DType, number> = { float32: 1, float64: 11, int64: 7, bool: 9, int8: 3, uint8: 2, int32: 6 };

function valueInfo(v: Value): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: DTYPE_CODE[v.dtype],
        shape: { dim: v.shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ("i" in a) return { name, type: T.INT, i: a.i };
  if ("f" in a) return { name, type: T.FLOAT, f: a.f };
  if ("ints" in a) return { name, type: T.INTS, ints: [...a.ints] };
  return { name, type: T.STRING, s: new TextEncoder().encode(a.s) };
}

export function emitOnnx(graph: Graph, name = "routerretriever"): Uint8Array {
  const usesMs = graph.nodes.some((n) => MS_DOMAIN_OPS.has(n.op));
  const model: onnxProto.onnx.IModelProto = {
    irVersion: 8,
    producerName: "routerretriever",
    opsetImport: usesMs ? [{ domain: "", version: OPSET }, { domain: "com.microsoft", version: 1 }] : [{ domain: "", version: OPSET }],
    graph: {
      name,
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
      initializer: graph.initializers.map(({ value, data }) => ({
        name: value.name,
        dataType: DTYPE_CODE[value.dtype],
        dims: value.shape.map(Number),
        rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      })),
      node: graph.nodes.map((n, i) => ({
        name: `n${i}_${n.op}`,
        opType: n.op,
        ...(MS_DOMAIN_OPS.has(n.op) ? { domain: "com.microsoft" } : {}),
        input: n.inputs.map((v) => v.name),
        output: n.outputs.map((v) => v.name),
        attribute: Object.entries(n.attrs).map(([k, a]) => attribute(k, a)),
      })),
    },
  };
  return onnx.ModelProto.encode(model).finish();
}
