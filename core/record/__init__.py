"""The record of a forward pass: `Trace` and its per-layer records, typed numpy data named hierarchically
(`layers[3].self_attn.probs`), and the per-token losses. Nothing here runs a model: what produces a trace's
lazy values is typed by the Protocols it implements (`TraceReplay`, `HeadReplay`)."""
