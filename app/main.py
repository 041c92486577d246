"""Energy Lab: `streamlit run app/main.py` from the repository root."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts only app/ on the path; pages import engine and app
    sys.path.insert(0, str(ROOT))

import streamlit as st

from app.follow import follow_view
from app.i18n import language_switch
from app.pages_index import PAGES, page_title, section_title
from app.presenter import presenter_view
from app.session import class_code_box, remember_browser
from app.session_runs import session_runs_panel
from app.tour_box import tour_box
from engine.scheduler import share_threads

# numba's UMAP warm-up (~25 CPU-s, mostly holding the GIL) starts when the embedding page is first
# opened, not here: at start-up it would slow every other page's live training for half a minute
share_threads()  # torch's pool is process-wide: each admitted job's share (engine/scheduler.py)
st.set_page_config(page_title="Energy Lab", page_icon="⚡", layout="wide")
language_switch()  # ?lang=pt|en, the sidebar's switch, or the browser's language (app/i18n.py)
remember_browser()  # the cookie that lets a reload or a new tab of this browser find its runs
class_code_box()  # only when the lecturer set ENERGY_LAB_CLASS_CODE
presenter_view()  # the projector's switch: settings hidden, larger text, keyboard shortcuts (?present=1)
follow_view()  # "Share my live view" (sidebar), or a follower's read-only banner (?follow=<code>, app/follow.py)
panel = st.sidebar.container()  # this browser's runs on every page, at the top of the sidebar (app/session_runs.py)

nav = st.navigation(
    {
        section_title(section): [st.Page(ROOT / "pages" / f"{stem}.py", title=page_title(stem), icon=icon,
                                         url_path=stem)
                                 for stem, icon in entries if (ROOT / "pages" / f"{stem}.py").exists()]
        for section, entries in PAGES.items()
    }
)
try:
    nav.run()
finally:  # after the page: the panel shows the runs as this run's clicks left them (also after st.stop)
    tour_box(nav.url_path)  # the guided lecture's box on its current stop's page (app/tour_box.py)
    with panel:
        session_runs_panel()
