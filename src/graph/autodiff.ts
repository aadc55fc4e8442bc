/**
 * Reverse-mode autodiff over the graph IR (tinygrad's compute_gradient). The backward nodes
 * are appended to the same Graph, so forward, loss and backward emit as one ONNX model; the
 * caller marks the returned gradients as graph outputs.
 *
 * Only nodes on a path from a target to the loss are differentiated: a frozen weight's branch
 * (no target upstream) or a side output (loss does not depend on it) is never visited, so ops
 * without a usable rule there cost nothing and raise nothing. Rules build gradients for all of
 * a node's float inputs; those nobody needs (e.g. dW of a frozen W) are pruned at the end.
 */
import { RouterRetrieverError } from "../errors.js";
import { staticSize, type Graph, type Node, type Value } from "./ir.js";
import { add } from "./ops.js";
import { VJP } from "./vjp.js";

/**
 * d(loss)/d(target) for each target, keyed by the target's value id. `loss` must be a float
 * scalar (one element). Throws if a target does not affect the loss.
 */
export function gradients(g: Graph, loss: Value, targets: readonly Value[]): Map<number, Value> {
  if (staticSize(loss.shape) !== 1 || (loss.dtype !== "float32" && loss.dtype !== "float64")) {
    throw new RouterRetrieverError("BAD_INPUT", `gradients: loss ${loss.name} must be a float scalar, got ${loss.dtype} [${loss.shape}]`);
  }
  const firstBackwardNode = g.nodes.length;
  const firstBackwardInit = g.initializers.length;

  // Forward sweep (nodes are stored in topological order): values that depend on a target.
  const dependsOnTarget = new Set(targets.map((t) => t.id));
  const candidates: Node[] = [];
  for (const n of g.nodes) {
    if (!n.inputs.some((v) => dependsOnTarget.has(v.id))) continue;
    for (const o of n.outputs) dependsOnTarget.add(o.id);
    candidates.push(n);
  }

  // Backward sweep: a candidate is on a target->loss path iff one of its outputs has a gradient.
  const grads = new Map<number, Value>([[loss.id, g.constant(1, loss.dtype, loss.shape as number[])]]);
  for (const n of candidates.reverse()) {
    const outGrads = n.outputs.map((o) => grads.get(o.id));
    if (outGrads.every((d) => d === undefined)) continue;
    const inGrads = VJP[n.op](g, n, outGrads);
    n.inputs.forEach((v, i) => {
      const d = inGrads[i];
      if (!d || !dependsOnTarget.has(v.id)) return;
      const prev = grads.get(v.id);
      grads.set(v.id, prev ? add(g, prev, d) : d); // a value feeding several nodes sums their contributions
    });
  }

  const result = new Map<number, Value>();
  for (const t of targets) {
    const d = grads.get(t.id);
    if (!d) throw new RouterRetrieverError("BAD_INPUT", `gradients: target ${t.name} does not affect loss ${loss.name}`);
    result.set(t.id, d);
  }
  pruneBackward(g, firstBackwardNode, firstBackwardInit, [...result.values()]);
  return result;
}

/** Drops backward nodes and constants (those added after the given marks) that no kept value needs. */
function pruneBackward(g: Graph, firstNode: number, firstInit: number, keep: readonly Value[]): void {
  const live = new Set(keep.map((v) => v.id));
  const kept: Node[] = [];
  for (const n of g.nodes.slice(firstNode).reverse()) {
    if (n.outputs.some((o) => live.has(o.id))) {
      for (const v of n.inputs) live.add(v.id);
      kept.push(n);
    } else {
      for (const o of n.outputs) g.producer.delete(o.id);
    }
  }
  g.nodes.splice(firstNode, g.nodes.length - firstNode, ...kept.reverse());
  const inits = g.initializers.splice(firstInit, g.initializers.length - firstInit);
  g.initializers.push(...inits.filter((i) => live.has(i.value.id)));
}
