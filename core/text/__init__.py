"""Text before it meets a model: tokenizers, chat templates, byte-pair encoding learned in front of a class, and
the toy translation task's generated sentences."""
