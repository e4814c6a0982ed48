"""Training: the loop and its toy tasks, the live training jobs of the web app, and the tiny translator's own
training (`python -m core.training.train_translator`). Loading or running a model never imports this package."""
