"""Page: what Energy Lab is, how it follows the lecture, and a link to every page (and to the guided lecture)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.i18n import language, texts
from app.pages_index import PAGES, page_title

TEXT = texts("home")
ROOT = Path(__file__).resolve().parent.parent
ICONS = {stem: icon for entries in PAGES.values() for stem, icon in entries}
# the lecture's ideas, in its order, and the pages that show each
ROWS = (
    ("ml", ("maximum_likelihood",)),
    ("cd", ("contrastive_divergence", "scoreboard")),
    ("dae", ("denoising_autoencoder",)),
    ("binary", ("binary",)),
    ("embed", ("contrastive_embedding",)),
    ("images", ("energies_over_images",)),
    ("runs", ("runs",)),
)


def link(stem: str, container=st) -> None:
    if (ROOT / "pages" / f"{stem}.py").exists():
        container.page_link(ROOT / "pages" / f"{stem}.py", label=page_title(stem), icon=ICONS.get(stem),
                            query_params={"lang": language()})


st.title(TEXT["title"])
st.markdown(TEXT["lead"])
with st.container(border=True, key="home_lecture"):
    st.markdown(TEXT["lecture"])
    link("lecture")

head_idea, head_page = st.columns([3, 2])
head_idea.markdown(f"**{TEXT['col_idea']}**")
head_page.markdown(f"**{TEXT['col_page']}**")
for row, stems in ROWS:
    idea, where = st.columns([3, 2], vertical_alignment="center")
    idea.markdown(TEXT[f"row.{row}"])
    for stem in stems:
        link(stem, where)
st.info(TEXT["how"])
