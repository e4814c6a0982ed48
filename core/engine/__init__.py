"""The Transformer itself: one configurable family (`ModelConfig`) of attention, blocks, norms, positions and
masks, as torch modules. It imports only the record it fills while it runs (`core.record`)."""
