"""What a page shows, as text, and which of its lines are in the wrong language.

`screen_lines(page)` reads the text a person sees: the page's visible text (Streamlit's markdown, labels, buttons,
tables, the sidebar), the text inside components' frames (the live canvas, the embedding map), and the titles, axis
titles, legends and annotations of every Plotly chart. Left out, as the allow-list says: Streamlit's own chrome (the
top bar, the status widget, the file uploader's instructions), Plotly's modebar, formulas (KaTeX), and code boxes
(a share link's URL, a command line).

`foreign_lines(lines, lang)`: a line is English in a Portuguese page when it holds two English function words, or
one of the app's English interface words and nothing Portuguese; and Portuguese in an English page when it holds
two Portuguese function words or a Portuguese accent. Proper names (SimCLR, MoCo, UMAP, Langevin…) and symbols
are neither, so they pass.
"""

from __future__ import annotations

import re

HIDE = ", ".join([
    "[data-testid='stHeader']", "[data-testid='stToolbar']", "[data-testid='stStatusWidget']",
    "[data-testid='stDecoration']", "[data-testid='stFileUploaderDropzoneInstructions']",
    ".modebar-container", ".katex", "code", "pre", "[data-testid='stCode']", "script", "style",
])
_READ = """(hide) => {
  const clone = document.body.cloneNode(true);
  // keep only what is visible: the clone has no layout, so mark hidden nodes on the live tree first
  const live = document.body.querySelectorAll('*');
  const copy = clone.querySelectorAll('*');
  for (let i = 0; i < live.length; i++) {
    const style = getComputedStyle(live[i]);
    if (style.display === 'none' || style.visibility === 'hidden' || live[i].getAttribute('aria-hidden') === 'true')
      copy[i].setAttribute('data-energy-lab-hidden', '1');
  }
  clone.querySelectorAll(hide + ", [data-energy-lab-hidden='1']").forEach((el) => el.remove());
  const svg = [...document.querySelectorAll(
      '.gtitle, .g-xtitle, .g-ytitle, .g-ztitle, .xtitle, .ytitle, .legendtext, .annotation-text, .colorbar .cbtitle')]
    .map((el) => el.textContent);
  clone.style.position = 'absolute'; clone.style.left = '-99999px';
  document.documentElement.appendChild(clone);
  const text = clone.innerText;
  clone.remove();
  return [text, ...svg].join('\\n');
}"""

EN_FUNCTION = frozenset(str.split("""
the and of with is are to this that from on in by at it be an or not was were which what
when where how its their your you this these those has have will would can could should than then there here
into onto only also each every one two both after before while because about"""))
EN_INTERFACE = frozenset(str.split("""
train training trained pause paused resume step steps reset settings press show copy
download record recording waiting finished stopped failed ready running energy learning rate noise data sample
samples particles seed width batch size method loss model models choose open save delete continue run runs
page link sweep compare comparison true false value values none number"""))
PT_FUNCTION = frozenset(str.split("""
de que não para com uma um do da dos das em na nas nos no é são ao aos pelo pela pelos
pelas mais se como mas quando onde este esta isso essa esse cada"""))
PT_ACCENTS = re.compile(r"[ãõçáéíóúâêôà]", re.IGNORECASE)
WORD = re.compile(r"[A-Za-zÀ-ÿ]+")


def screen_lines(page) -> list[str]:
    """Every non-empty visible line of the page and of its components' frames."""
    texts = [page.evaluate(_READ, HIDE)]
    for frame in page.frames[1:]:
        try:
            texts.append(frame.evaluate(_READ, HIDE))
        except Exception:  # a frame that went away between listing and reading
            continue
    return [line.strip() for text in texts for line in text.splitlines() if line.strip()]


def foreign_lines(lines: list[str], lang: str, allow: frozenset[str] = frozenset()) -> list[str]:
    """The lines that are not in `lang` ("pt": English found; "en": Portuguese found); `allow`: exact lines."""
    found = []
    for line in lines:
        if line in allow:
            continue
        words = [w.lower() for w in WORD.findall(line.replace("Energy Lab", ""))]  # the app's name
        if lang == "pt":
            en = sum(w in EN_FUNCTION for w in words)
            ui = sum(w in EN_INTERFACE for w in words)
            pt = any(w in PT_FUNCTION for w in words) or PT_ACCENTS.search(line)
            if en >= 2 or (ui and not pt):
                found.append(line)
        else:
            if sum(w in PT_FUNCTION - {"no", "do", "se", "em"} for w in words) >= 2 or PT_ACCENTS.search(line):
                found.append(line)
    return found

