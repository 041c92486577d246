"""The pages, by section: (file stem under pages/, icon). Order is the lecture's. Their titles and the
sections' names are in the catalogue's `pages` section (assets/locales/<lang>/pages.toml): `pages.<stem>`
and `pages.section_<section>`."""

from app.i18n import t

PAGES: dict[str, list[tuple[str, str]]] = {
    "lab": [("home", ":material/home:"), ("lecture", ":material/school:")],
    "energies_2d": [
        ("maximum_likelihood", ":material/landscape:"),
        ("contrastive_divergence", ":material/scatter_plot:"),
        ("scoreboard", ":material/leaderboard:"),
    ],
    "denoising": [("denoising_autoencoder", ":material/blur_on:")],
    "binary": [("binary", ":material/grid_on:")],
    "images": [("contrastive_embedding", ":material/photo_library:"),
               ("energies_over_images", ":material/auto_awesome:")],
    "runs": [("runs", ":material/monitoring:")],
}


def page_title(stem: str, lang: str | None = None) -> str:
    return t(f"pages.{stem}", lang=lang)


def section_title(section: str, lang: str | None = None) -> str:
    return t(f"pages.section_{section}", lang=lang)
