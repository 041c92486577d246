"""Follow the lecturer: a read-only link to a browser's live runs, for the students' own screens.

The lecturer opens "Share my live view" in the sidebar and gets `<page url>?follow=<code>`: the code is random
(`secrets.token_urlsafe(12)`) and the registry maps it to the lecturer's browser token, which never leaves the
server (it is the key to the lecturer's runs and run folders). "Stop sharing" revokes the code; it also ends
when the lecturer's browser is released (app/session.py).

A session opened with the link follows: `run_slots()` gives every page a read-only view of the lecturer's runs
(`ReadOnlySlots`), so each page draws them with its own live views; the run buttons are replaced by a caption
(app/run_controls.py) and job buttons refuse (app/jobs.py). The code is kept in the session once read (a page
switch drops the URL's query parameters) and put back into the URL, so a reload keeps following. The follower's
forms take the settings of the runs they show, once per run (the page draws a run with its form's data set and
box); the follower's own changes after that change nothing of the run. A banner at the top says "following",
with "Leave"; it also looks every POLL_S seconds whether the lecturer's runs changed (a run started, paused,
reset, or the link revoked) and then redraws the whole page, so the follower's live views start and stop with
the lecturer's. An unknown or revoked code: a warning, and the page is the student's own.
"""

from __future__ import annotations

import streamlit as st

from app.form import set_values
from app.i18n import texts
from app.run_controls import FOLLOWED_SETTINGS
from app.session import (
    FOLLOW_PARAM,
    RunSlots,
    browser_token,
    follow_code,
    followed_slots,
    registry,
    run_slots,
    stop_following,
)

TEXT = texts("follow")
# how often a follower's banner looks at the lecturer's runs (a few attributes per run; a full redraw only when
# a run appears, goes or changes state): slow, it must not compete with the live views
POLL_S = 2.0


def follow_link(code: str) -> str:
    """The page's address with `?follow=<code>` (a relative link where the address is unknown, e.g. AppTest)."""
    return f"{st.context.url or ''}?{FOLLOW_PARAM}={code}"


def fingerprint(slots: RunSlots) -> tuple[tuple[str, int, str], ...]:
    """What a follower's page is drawn for: each run (by identity) and its state."""
    return tuple((slot, id(run), run.state) for slot, run in slots.items())


def _share() -> None:
    run_slots()  # registers this browser (a code is valid only while its browser is)
    registry().share(browser_token())


def _revoke() -> None:
    registry().revoke(browser_token())


def share_box() -> None:
    """The sidebar's "Share my live view": a button that makes the link, then the link and "Stop sharing"."""
    code = registry().sharing(browser_token())
    with st.sidebar.expander(TEXT["share_title"], icon=":material/cast:"):
        if code is None:
            st.caption(TEXT["share_help"])
            st.button(TEXT["share"], key="_follow_share", on_click=_share, icon=":material/link:")
            return
        st.caption(TEXT["link"])
        st.code(follow_link(code), language=None)
        st.button(TEXT["stop"], key="_follow_stop", on_click=_revoke, help=TEXT["stop_help"],
                  icon=":material/link_off:")


def take_followed_settings() -> None:
    """Put the followed runs' settings that app/run_controls.py's `follow_settings` left into the forms' widgets
    (here, before the page draws its forms: a widget's value cannot change once it is drawn)."""
    for name in [k for k in st.session_state if str(k).startswith(FOLLOWED_SETTINGS)]:
        cls, values = st.session_state.pop(name)
        set_values(cls, str(name).removeprefix(FOLLOWED_SETTINGS), values)


def follow_banner(slots: RunSlots) -> None:
    """The follower's banner with "Leave"; redraws the page when the lecturer's runs change or the link ends."""
    seen = fingerprint(slots)

    @st.fragment(run_every=POLL_S)
    def banner() -> None:
        now = followed_slots()
        if now is None or fingerprint(now) != seen:
            st.rerun()  # the link ended, or a run started / paused / was reset: the page follows
        left, right = st.columns([6, 1], vertical_alignment="center")
        left.info(TEXT["banner"], icon=":material/visibility:")
        right.button(TEXT["leave"], key="_follow_leave", on_click=stop_following, help=TEXT["leave_help"],
                     icon=":material/logout:")

    banner()


def follow_view() -> None:
    """On every page (app/main.py, before the page): a follower's banner, else the sharing box."""
    code = follow_code()
    if code is not None:
        slots = followed_slots()
        if slots is None:
            st.warning(TEXT["ended"], icon=":material/link_off:")
            stop_following()
        else:
            if st.query_params.get(FOLLOW_PARAM) != code:
                st.query_params[FOLLOW_PARAM] = code  # a page switch dropped it: a reload must keep following
            take_followed_settings()
            follow_banner(slots)
            return  # a follower shares nothing: it holds no runs of its own on screen
    share_box()
