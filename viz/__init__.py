"""What a person sees: figure builders (pure), page scripts (thin), and shared widgets."""
