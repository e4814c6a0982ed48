"""What a person sees: figure builders (pure), page scripts (thin), and shared widgets."""

from viz import process  # noqa: F401  (first: its settings must precede torch's loading)
