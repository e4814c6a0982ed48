"""What the pages show, computed on a loaded model or its trace: ablation, attribution, the logit lens, head
rankings, the worked example of attention, masks, positions, embeddings, decoding, export, and the Game of Life.
Lessons never import training."""
