"""Page: what Energy Lab is and how it follows the lecture."""

from __future__ import annotations

import streamlit as st

from app.i18n import texts

TEXT = texts("home")

st.title(TEXT["title"])
st.markdown(TEXT["lead"])
st.markdown(TEXT["map"])
st.info(TEXT["how"])
