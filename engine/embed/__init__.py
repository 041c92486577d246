"""Contrastive embedding of images: SimCLR, MoCo, PIRL and an L2 variant, with probes and maps.

config (every setting, declared once, with its layered defaults) · imageset (the `ImageSet` shape) ←
data (named sets) and shapes (a generated set) → augment (per-sample positive pairs) → models (encoder +
heads) → one objective per file in objectives/ (simclr, moco, pirl, l2; a registry) → trainer (a
`Run`-able Trainer) → evaluate (probes), baselines → project (PCA / UMAP), sweeps (why cosine,
negatives × dimension, temperature) and views (what the page shows) → cli (`python -m engine embed`).
"""
