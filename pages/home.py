"""Page: what Energy Lab is and how it follows the lecture."""

from __future__ import annotations

import streamlit as st

TEXT = {
    "title": "⚡ Energy Lab",
    "lead": (
        "Watch energy-based models being trained by **contrastive methods**, live — following the NYU "
        "Deep Learning lecture *Contrastive methods in energy-based models* (LeCun). Every claim of the "
        "lecture is something you can run, see and measure here."
    ),
    "map": """
| Lecture idea | Where to see it |
|---|---|
| Maximum likelihood pushes energy down on data, up everywhere else; only energy *differences* matter | **Maximum likelihood** |
| Contrastive divergence, persistent particles, NCE, score matching — and which does best, exactly | **Contrastive divergence & PCD**, **Scoreboard** |
| A denoising autoencoder's energy grows quadratically off the manifold but has flat spots between branches | **Denoising autoencoder** |
| In discrete spaces: flip bits, accept if the energy falls; ratio matching, NCE, minimum probability flow | **Binary data** |
| Positive and negative pairs, SimCLR / MoCo / PIRL, why cosine similarity, why so many negatives | **Contrastive embedding** |
""",
    "how": (
        "Pick a page on the left, choose a data set and a method, press **Train**. Training runs in the "
        "background: you can pause, step once, or reset at any time, and switching pages keeps your runs. "
        "Every experiment can also be run headless: `python -m engine --help`."
    ),
}

st.title(TEXT["title"])
st.markdown(TEXT["lead"])
st.markdown(TEXT["map"])
st.info(TEXT["how"])
