"""A browser's runs, kept process-wide under a browser token: a network blip, a reload or a new tab finds them.

The token is a random string the browser keeps in a cookie (written once by a tiny component) and sends when a
page connects (`st.context.cookies`); within one Streamlit session it also sits in `st.session_state`, so a
reconnecting websocket keeps it even without cookies. The registry maps token → `RunSlots` (one run per page
slot). A token's runs are released — stopped, their places in the scheduler's line given back — once none of
its Streamlit sessions has been connected for the grace period (ENERGY_LAB_SESSION_GRACE_S, default 10 min).
A reaper thread does that: never the server's event loop, which is where Streamlit releases a session-scoped
cache when a websocket drops (why runs no longer live in one: every blip stopped them, and each stop could
hold the loop — and every other student — for up to a second).

Follow links (app/follow.py): a browser may share its live view under a random follow code (never its token);
a session opened with `?follow=<code>` gets from `run_slots()` a `ReadOnlySlots` view of that browser's runs,
which every page draws as its own and nothing can change. The codes end with "Stop sharing" or the browser.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app.i18n import texts
from engine.errors import LabError, Text
from engine.run import Run
from engine.scheduler import ServeSettings, release_run

COOKIE = "energy_lab_browser"
COOKIE_DAYS = 30
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
UNDO_SUFFIX = ":undo"  # "<slot>:undo" keeps the run a Reset replaced, stopped, for "Undo reset"
SESSIONS_KEPT = 16  # Streamlit session ids remembered per browser (each reload makes one)
_LOG = logging.getLogger(__name__)


class RunSlots:
    """The runs of one browser, by slot name (one per page, plus the pages' jobs)."""

    def __init__(self, owner: str = "") -> None:
        self.owner = owner  # the browser token: whose places these runs take in the scheduler's line
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Run | None:
        with self._lock:
            return self._runs.get(name)

    def replace(self, name: str, run: Run | None) -> Run | None:
        """Put `run` in the slot (stopping the run it replaces, and giving back its place) and return it."""
        with self._lock:
            old = self._runs.pop(name, None)
            if run is not None:
                self._runs[name] = run
        if old is not None and old is not run:
            release_run(old)
            old.stop()
        return run

    def items(self) -> list[tuple[str, Run]]:
        """(slot name, run) for every slot that holds a run (not the runs kept for "Undo reset"): a copy."""
        with self._lock:
            return [(name, run) for name, run in self._runs.items() if not name.endswith(UNDO_SUFFIX)]

    def stop_all(self) -> None:
        with self._lock:
            runs, self._runs = list(self._runs.values()), {}
        for run in runs:
            release_run(run)
        for run in runs:
            run.stop()

    def __len__(self) -> int:
        return len(self._runs)


class ReadOnlyError(LabError):
    """Something tried to change the runs of a read-only view (a student following the lecturer's link)."""

    kind = "read_only"


READ_ONLY_TEXT = "This is a read-only view of the lecturer's runs (a follow link): it cannot {what} them."
READ_ONLY_WHAT = {"replace": "replace or start", "stop": "stop", "continue": "continue"}


def read_only_text(what: str) -> Text:
    """The read-only view's refusal ("… it cannot stop them"), for `what` in READ_ONLY_WHAT; a message piece
    (English in str(), the session's language in format())."""
    return Text("session.read_only", READ_ONLY_TEXT, what=Text(f"session.read_only_{what}", READ_ONLY_WHAT[what]))


class ReadOnlySlots(RunSlots):
    """Another browser's runs, seen through a follow link: read them (`get`, `items`), never change them.

    `replace` and `stop_all` raise ReadOnlyError. `owner` is the *viewer's* own token, not the followed
    browser's: code that grants rights by `slots.owner` (the Runs page's Save / Delete of "your" run folders,
    the scheduler's share) must never act as the lecturer for a follower.
    """

    def __init__(self, followed: RunSlots, viewer: str) -> None:  # no super().__init__: it holds no runs itself
        self.owner = viewer
        self._followed = followed

    def get(self, name: str) -> Run | None:
        return self._followed.get(name)

    def items(self) -> list[tuple[str, Run]]:
        return self._followed.items()

    def replace(self, name: str, run: Run | None) -> Run | None:
        raise ReadOnlyError.of(read_only_text("replace"))

    def stop_all(self) -> None:
        raise ReadOnlyError.of(read_only_text("stop"))

    def __len__(self) -> int:
        return len(self._followed.items())


def read_only(slots: RunSlots) -> bool:
    """Is `slots` a follower's read-only view (nothing on the page may change its runs)?"""
    return isinstance(slots, ReadOnlySlots)


def _connected(session_id: str) -> bool:
    """Is this Streamlit session's websocket connected now? (False outside a server, e.g. under AppTest.)"""
    return Runtime.exists() and Runtime.instance().is_active_session(session_id)


@dataclass
class _Browser:
    slots: RunSlots
    last_contact: float
    sessions: dict[str, None] = field(default_factory=dict)  # its Streamlit session ids, oldest first


class SessionRegistry:
    """token → RunSlots, for the whole process; a token silent for `grace_s` seconds is released."""

    def __init__(self, grace_s: float, *, connected: Callable[[str], bool] = _connected,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.grace_s, self._connected, self._clock = grace_s, connected, clock
        self._browsers: dict[str, _Browser] = {}
        self.class_members: set[str] = set()  # tokens of the browsers that gave the class code (kept on reload)
        # follow code → the token of the browser that shares its live view (app/follow.py); the code, not the
        # token, goes into the link: the token is the browser's key to its runs and run folders
        self.follow_codes: dict[str, str] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._reaper: threading.Thread | None = None
        self.released = 0  # browsers released so far

    def slots(self, token: str, session_id: str | None = None) -> RunSlots:
        """The browser's runs (made on first use); marks the contact and remembers the session."""
        with self._lock:
            browser = self._browsers.get(token)
            if browser is None:
                browser = self._browsers[token] = _Browser(RunSlots(token), self._clock())
            browser.last_contact = self._clock()
            if session_id is not None:
                browser.sessions.pop(session_id, None)
                browser.sessions[session_id] = None
                while len(browser.sessions) > SESSIONS_KEPT:
                    del browser.sessions[next(iter(browser.sessions))]
            return browser.slots

    def existing(self, token: str) -> RunSlots | None:
        """The browser's runs if it is registered (made by nobody here, its contact not marked)."""
        with self._lock:
            browser = self._browsers.get(token)
            return browser.slots if browser is not None else None

    # ---- follow links ----------------------------------------------------------------------------
    def share(self, token: str) -> str:
        """The follow code of the browser `token` (a new random one unless it shares already)."""
        with self._lock:
            code = next((c for c, t in self.follow_codes.items() if t == token), None)
            if code is None:
                code = secrets.token_urlsafe(12)
                self.follow_codes[code] = token
            return code

    def sharing(self, token: str) -> str | None:
        """The browser's follow code while it shares its live view, else None."""
        with self._lock:
            return next((c for c, t in self.follow_codes.items() if t == token), None)

    def followed(self, code: str | None) -> str | None:
        """The token a follow code shares (None: unknown, revoked, or its browser released)."""
        if not code:
            return None
        with self._lock:
            token = self.follow_codes.get(code)
            return token if token is not None and token in self._browsers else None

    def revoke(self, token: str) -> None:
        """Stop sharing: the browser's follow codes end (its followers see "this follow link has ended")."""
        with self._lock:
            for code in [c for c, t in self.follow_codes.items() if t == token]:
                del self.follow_codes[code]

    def sweep(self) -> list[str]:
        """Note which browsers are connected; release those silent for longer than the grace period."""
        now = self._clock()
        with self._lock:
            browsers = list(self._browsers.items())
        expired = []
        for token, browser in browsers:  # outside the lock: asking the runtime takes its own
            if any(self._connected(sid) for sid in list(browser.sessions)):
                browser.last_contact = now
            elif now - browser.last_contact > self.grace_s:
                expired.append(token)
        released = []
        with self._lock:
            for token in expired:
                browser = self._browsers.get(token)
                if browser is not None and now - browser.last_contact > self.grace_s:
                    released.append(self._browsers.pop(token))
            gone = {b.slots.owner for b in released}
            self.follow_codes = {c: t for c, t in self.follow_codes.items() if t not in gone}
        for browser in released:
            browser.slots.stop_all()
        self.released += len(released)
        return [b.slots.owner for b in released]

    def start_reaper(self, every_s: float | None = None) -> None:
        """Sweep every `every_s` seconds (default: a quarter of the grace period, at most 5 s) on a daemon thread."""
        every = every_s if every_s is not None else min(5.0, self.grace_s / 4)

        def reap() -> None:
            while not self._closed.wait(every):
                try:
                    self.sweep()
                except Exception:  # one bad sweep (a run that fails to stop) must not end the reaping
                    _LOG.exception("session sweep failed; trying again in %.1f s", every)

        if self._reaper is None:
            self._reaper = threading.Thread(target=reap, name="energy-lab-session-reaper", daemon=True)
            self._reaper.start()

    def close(self) -> None:
        """Stop the reaper and release every browser (tests; a cleared resource cache)."""
        self._closed.set()
        with self._lock:
            browsers, self._browsers = list(self._browsers.values()), {}
            self.follow_codes = {}
        for browser in browsers:
            browser.slots.stop_all()

    def __contains__(self, token: str) -> bool:
        return token in self._browsers

    def __len__(self) -> int:
        return len(self._browsers)


# ---- Streamlit glue ------------------------------------------------------------------------------
@st.cache_resource(on_release=SessionRegistry.close, show_spinner=False)
def registry() -> SessionRegistry:
    """The process's registry (clearing the resource cache releases every browser's runs)."""
    reg = SessionRegistry(ServeSettings.from_environ().grace_s)
    reg.start_reaper()
    return reg


def _cookie_token() -> str | None:
    """The token the browser sent in its cookie when this session connected (None: none, or not a token)."""
    cookie = st.context.cookies.get(COOKIE)
    return cookie if isinstance(cookie, str) and TOKEN.fullmatch(cookie) else None


def browser_token() -> str:
    """This browser's token: the session's, else the cookie's, else a new one (remembered by `remember_browser`)."""
    token = st.session_state.get("_browser_token")
    if token is None:
        token = _cookie_token() or secrets.token_urlsafe(24)
        st.session_state["_browser_token"] = token
    return token


_COOKIE_JS = """
export default function ({ data }) {
  const secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = `${data.name}=${data.token}; Path=/; Max-Age=${data.max_age}; SameSite=Strict${secure}`;
}
"""
_cookie_writer = st.components.v2.component("energy_lab_browser_token", js=_COOKIE_JS)


def remember_browser() -> None:
    """Keep the token in the browser's cookie (drawn, invisibly, only while the cookie does not hold it yet)."""
    token = browser_token()
    if _cookie_token() != token:
        with st.sidebar:
            _cookie_writer(key="_browser_cookie", height=0,
                           data={"name": COOKIE, "token": token, "max_age": COOKIE_DAYS * 86_400})


def run_slots() -> RunSlots:
    """This browser's runs (the same object in every tab and session of the browser, until released); in a
    session opened with a valid follow link, a read-only view of the followed browser's runs instead."""
    ctx = get_script_run_ctx()
    own = registry().slots(browser_token(), ctx.session_id if ctx is not None else None)
    followed = followed_slots()
    return ReadOnlySlots(followed, own.owner) if followed is not None else own


# ---- follow links (the UI: app/follow.py) ------------------------------------------------------------
FOLLOW_PARAM = "follow"  # ?follow=<code>
FOLLOW_KEY = "_follow_code"  # session_state: the code this session follows (kept across page switches)


def follow_code() -> str | None:
    """The follow code this session was opened with (read once from the URL, then kept in the session: a page
    switch drops the URL's query parameters), or None."""
    value = st.query_params.get(FOLLOW_PARAM)
    if value and value != st.session_state.get(FOLLOW_KEY):
        st.session_state[FOLLOW_KEY] = value
    return st.session_state.get(FOLLOW_KEY)


def stop_following() -> None:
    """Leave the followed view (the session's own runs come back); drops the code from the URL too."""
    st.session_state.pop(FOLLOW_KEY, None)
    if FOLLOW_PARAM in st.query_params:
        del st.query_params[FOLLOW_PARAM]


def followed_slots() -> RunSlots | None:
    """The runs of the browser this session follows, while its follow code is valid; None otherwise."""
    token = registry().followed(follow_code())
    return registry().existing(token) if token is not None else None


# ---- the class code ------------------------------------------------------------------------------
CLASS_TEXT = texts("session")  # the class code's texts (and the read-only view's), in the session's language
MAX_CODE_TRIES = 10  # wrong codes one session may try (the code is short: no guessing it from a page)


def class_code() -> str | None:
    """The code the lecturer set (ENERGY_LAB_CLASS_CODE), or None when anyone may train."""
    return _serve_settings().class_code


@st.cache_resource(show_spinner=False)
def _serve_settings() -> ServeSettings:
    return ServeSettings.from_environ()


def may_train() -> bool:
    """Whether this browser may start heavy work: no class code set, or this browser gave it."""
    return class_code() is None or browser_token() in registry().class_members


def _check_code() -> None:
    """(The code field's callback, before the page redraws.) Admit this browser if the code is right."""
    given = str(st.session_state.get("_class_code") or "").strip()
    st.session_state["_class_code"] = ""  # the code is not kept in the widget, nor sent back to the page
    code = class_code()
    if not given or code is None:
        return
    if hmac.compare_digest(given.encode(), code.encode()):
        registry().class_members.add(browser_token())
        st.session_state["_class_code_said"] = "ok"
    else:
        st.session_state["_class_code_tries"] = st.session_state.get("_class_code_tries", 0) + 1
        st.session_state["_class_code_said"] = "wrong"


def class_code_box() -> None:
    """The sidebar's code field while a class code is set and this browser has not given it (then, once, "ok")."""
    said = st.session_state.pop("_class_code_said", None)
    if class_code() is None:
        return
    if may_train():
        if said == "ok":
            st.sidebar.success(CLASS_TEXT["ok"], icon=":material/key:")
        return
    with st.sidebar:
        st.subheader(CLASS_TEXT["title"])
        st.caption(CLASS_TEXT["ask"])
        if st.session_state.get("_class_code_tries", 0) >= MAX_CODE_TRIES:
            st.error(CLASS_TEXT["too_many"])
            return
        st.text_input(CLASS_TEXT["title"], type="password", key="_class_code", label_visibility="collapsed",
                      on_change=_check_code)
        if said == "wrong":
            st.error(CLASS_TEXT["wrong"])
