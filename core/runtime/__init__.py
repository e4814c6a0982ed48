"""A model at work: `LanguageModel` binds a Transformer to its tokenizer and traces, generates and translates; the
replay produces a trace's lazy values; `Weights` reads the model's weights by name, for lessons; the registry
names the installed models and loads them."""
