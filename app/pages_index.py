"""The pages, by section: (file stem under pages/, title, icon). Order is the lecture's."""

PAGES: dict[str, list[tuple[str, str, str]]] = {
    "Energy Lab": [
        ("home", "Welcome", ":material/home:"),
    ],
    "2-D energies": [
        ("maximum_likelihood", "Maximum likelihood", ":material/landscape:"),
        ("contrastive_divergence", "Contrastive divergence & PCD", ":material/scatter_plot:"),
        ("scoreboard", "Scoreboard", ":material/leaderboard:"),
    ],
    "Denoising": [
        ("denoising_autoencoder", "Denoising autoencoder", ":material/blur_on:"),
    ],
    "Binary data": [
        ("binary", "Binary data", ":material/grid_on:"),
    ],
    "Images": [
        ("contrastive_embedding", "Contrastive embedding", ":material/photo_library:"),
        ("energies_over_images", "Energies over images", ":material/auto_awesome:"),
    ],
    "Runs": [
        ("runs", "Runs", ":material/monitoring:"),
    ],
}
