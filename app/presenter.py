"""Presenter view: one switch for the projector — the settings hidden, larger text, keyboard shortcuts.

Like TensorFlow Playground's "hide controls": the sidebar (every page's settings) goes, the text and the
live view grow (the main column takes the whole width), and the keyboard drives the page's run:

    space  Train / Resume, or Pause while it trains        →  one Step
    r      Reset (then "Undo reset" brings the old run back, see app/run_controls.py)
    n / p  next / previous stop of the guided lecture (pages/lecture.py, app/tour_box.py)
    Esc    leave presenter view

A shortcut never fires while the focus is in a text field, a number box, a select or anything editable, nor
with Ctrl / Alt / Meta held (the browser's own shortcuts). The switch lives in the sidebar and in the URL
(`?present=1`, so a prepared link opens in presenter view); inside presenter view an "Exit presenter view"
button (or Escape) brings the settings back. The keys press the page's own buttons, found by their labels
(passed from here, so a translated page keeps working), so a shortcut does exactly what a click does.
"""

from __future__ import annotations

import streamlit as st

from app.i18n import t, texts

PARAM = "present"
KEY = "_presenter"
TEXT = texts("presenter")


def buttons() -> dict[str, list[str]]:
    """The labels of the buttons each key presses (the page's own buttons, in the session's language; first
    enabled match wins). Read at each draw, never at import: a module serves every session's language."""
    return {"play": [t("run_controls.train"), t("run_controls.resume")], "pause": [t("run_controls.pause")],
            "step": [t("run_controls.step")], "reset": [t("run_controls.reset")], "exit": [TEXT["exit"]],
            "next": [t("tour.next")], "prev": [t("tour.prev")]}

_CSS = """
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stExpandSidebarButton"] { display: none !important; }
[data-testid="stMain"] { font-size: 1.25rem; }
[data-testid="stMain"] h1 { font-size: 2.6rem; }
[data-testid="stMainBlockContainer"] { max-width: 100% !important; padding-left: 2rem; padding-right: 2rem; }
"""

_JS = """
const isEditable = (el) => {
  if (!el) return false;
  const tag = (el.tagName || "").toLowerCase();
  return tag === "input" || tag === "textarea" || tag === "select" || el.isContentEditable
    || (el.getAttribute && el.getAttribute("role") === "combobox");
};

function findButton(labels) {
  const main = document.querySelector('[data-testid="stMain"]') || document;
  for (const label of labels) {
    for (const b of main.querySelectorAll("button")) {
      if (!b.disabled && (b.innerText || "").trim().endsWith(label)) return b;
    }
  }
  return null;
}

function onKey(e) {
  const cfg = window.__energyLabPresenter;
  if (!cfg || !cfg.on || e.ctrlKey || e.altKey || e.metaKey || e.isComposing) return;
  // the real target, also inside a shadow root (components draw there)
  const target = (e.composedPath && e.composedPath()[0]) || e.target;
  if (isEditable(target) || isEditable(document.activeElement)) return;
  const B = cfg.buttons;
  let button = null;
  if (e.key === " ") button = findButton(B.pause) || findButton(B.play);
  else if (e.key === "ArrowRight") button = findButton(B.step);
  else if (e.key === "r" || e.key === "R") button = findButton(B.reset);
  else if (e.key === "Escape") button = findButton(B.exit);
  else if (e.key === "n" || e.key === "N") button = findButton(B.next);
  else if (e.key === "p" || e.key === "P") button = findButton(B.prev);
  else return;
  e.preventDefault();  // space would scroll the page
  if (button) {
    button.click();
    cfg.pressed = (cfg.pressed || 0) + 1;
    document.body.dataset.presenterKeys = String(cfg.pressed);
  }
}

export default function ({ data }) {
  window.__energyLabPresenter = { ...(window.__energyLabPresenter || {}), ...data };
  if (!window.__energyLabPresenterBound) {
    window.addEventListener("keydown", onKey, true);
    window.__energyLabPresenterBound = true;
  }
  document.body.dataset.presenter = data.on ? "on" : "off";
}
"""
_keys = st.components.v2.component("energy_lab_presenter_keys", js=_JS)


def _from_url() -> None:
    """`?present=1|0` sets the switch once per value (the switch can still be turned off by hand)."""
    value = st.query_params.get(PARAM)
    if value is not None and st.session_state.get("_presenter_url") != value:
        st.session_state["_presenter_url"] = value
        st.session_state[KEY] = value in ("1", "true", "on", "yes")


def _leave() -> None:
    st.session_state[KEY] = False
    if PARAM in st.query_params:
        del st.query_params[PARAM]
        st.session_state["_presenter_url"] = None


def presenter_view() -> bool:
    """Draw the switch (sidebar) and, when it is on, apply the view; returns whether it is on."""
    _from_url()
    on = st.sidebar.toggle(TEXT["switch"], key=KEY, help=TEXT["switch_help"])
    if on:
        st.html(f"<style>{_CSS}</style>")
        left, right = st.columns([5, 1])
        left.caption(TEXT["keys"])
        right.button(TEXT["exit"], key="_presenter_exit", on_click=_leave, icon=":material/fullscreen_exit:")
    # mounted on every page, also when off: turning the view off must turn the keys off too
    _keys(key="_presenter_keys", height=0, data={"on": on, "buttons": buttons()})
    return on
