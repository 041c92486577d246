"""Contrastive embedding of images: SimCLR, MoCo, PIRL and an L2 variant, with probes and maps.

data (image sets) → augment (per-sample positive pairs) → models (encoder + heads) → one objective
per file (simclr, moco, pirl, l2) → trainer (a `Run`-able Trainer) → evaluate (probes, baselines)
→ project (PCA / UMAP) and sweeps (why cosine, negatives × dimension, temperature).
"""
