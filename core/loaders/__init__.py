"""Turn weights on disk (or a seed) into a `Transformer` and its tokenizer."""
