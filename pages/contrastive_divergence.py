"""Page: contrastive divergence, persistent CD, NCE and DSM: where the contrasted points come from."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.declared_texts import method_label
from app.exports import chart, csv_button
from app.form import settings_form, widget_key
from app.i18n import LOCALES, language, num, t, texts
from app.jobs import job_controls
from app.live_canvas import live_canvas
from app.run_controls import failure_message, run_controls, status_line
from app.session import run_slots
from app.toy_views import curves_figure, curves_table, dimension_figure, dimension_table
from engine.run import FAILED, RUNNING, Run, RunOptions
from engine.scheduler import release_run
from engine.toy.config import ToyConfig
from engine.toy.data import DATASETS
from engine.toy.dimension import DimensionConfig, DimensionTrainer, summarise
from engine.toy.objectives import REGISTRY
from engine.toy.samplers import ANALYTIC, TRAINED, SamplingConfig, SamplingTrainer
from engine.toy.trainer import ToyTrainer
from engine.toy.views import dimension_levels, dimension_minutes, mode_table, off_langevin

TEXT = texts("contrastive_divergence")
DIM_COLUMNS = ("method", "dim", "status", "hist_kl", "mmd", "buffer_hist_kl", "train_seconds", "seconds")

# every registered method but maximum likelihood (which has a page of its own); a new method file shows here
METHODS = [m for m in REGISTRY.names() if m != "ml"]

st.title(TEXT["title"])
st.markdown(TEXT["intro"])

MODES = {"train": TEXT["mode_train"], "sample": TEXT["mode_sample"], "dimension": TEXT["mode_dimension"]}
mode = st.segmented_control(TEXT["mode"], list(MODES), format_func=MODES.get, default="train",
                            key="cd_mode") or "train"
slots = run_slots()


def sig(x: float, digits: int = 6) -> str:
    """x with at most `digits` significant digits (as f"{x:.{digits}g}" writes it) in the session's language."""
    from babel.numbers import format_decimal

    return "0" if x == 0 else format_decimal(x, format="@" + "#" * (digits - 1), locale=LOCALES[language()])


def method_labels() -> dict[str, str]:
    return {m: method_label(REGISTRY, m) for m in REGISTRY.available()}


def langevin_warning(eps: float, noise: float | None) -> None:
    off = off_langevin(eps, noise)
    if off is not None:
        st.sidebar.warning(TEXT["not_langevin"].format(eps=sig(off["eps"]), s=sig(off["s"]), T=sig(off["T"], 3),
                                                       s0=sig(off["s0"], 3)))


# ---- train ------------------------------------------------------------------------------------------
def train_section() -> None:
    st.sidebar.subheader(TEXT["settings"])
    st.session_state.setdefault(widget_key("cd", "method"), "pcd")  # the page opens on persistent CD
    config = settings_form(ToyConfig, key="cd", choices={"method": METHODS})
    trail = st.sidebar.slider(TEXT["trail"], 0, 40, 12, key="cd_trail")
    if config is None:
        return
    if "eps" in ToyConfig.method_settings(config.method):
        langevin_warning(config.eps, config.noise)

    def make_run(cfg: ToyConfig) -> Run:
        return Run(ToyTrainer(cfg), RunOptions(max_steps=cfg.steps, snapshot_hz=30, evaluate_every_s=1.0),
                   name="cd")

    run = run_controls(slots, "cd", config, make_run, key="cd")
    live = run is not None and run.state == RUNNING
    box = DATASETS[config.dataset].box
    left, right = st.columns([11, 10], gap="medium")

    @st.fragment(run_every=0.25 if live else None)
    def canvas_fragment() -> None:
        r = slots.get("cd")
        st.caption(TEXT["landscape"])
        live_canvas(r, key="cd_canvas", extent=(-box, box, -box, box), static_points=None,
                    trail=trail if config.method == "pcd" else 0)
        status_line(r)
        if live and (r is None or r.state != RUNNING):
            st.rerun()

    @st.fragment(run_every=1.0 if live else None)
    def curves_fragment() -> None:
        r = slots.get("cd")
        if r is None or not r.history:
            st.info(TEXT["no_run"])
            return
        st.caption(TEXT["curves"])
        lines = {k: TEXT[k] for k in ("loss", "e_pos", "e_neg")}
        metrics = {"kl": TEXT["kl"]}
        chart(curves_figure(r.history, r.evaluations, lines, metrics, revision="cd_curves",
                            y_title=TEXT["y_loss_energy"], right_axis=TEXT["kl_axis"], x_title=TEXT["step"]),
              "cd_curves", TEXT["file_curves"])
        # this fragment redraws once a second (not the canvas's 4 times): a few ms for the CSV is fine
        csv_button(curves_table(r.history, r.evaluations, lines, metrics), TEXT["file_curves"], key="cd_curves_csv")

    with left:
        canvas_fragment()
        st.caption(TEXT.get(f"legend_{config.method}", ""))
    with right:
        curves_fragment()


# ---- freeze the energy and sample ----------------------------------------------------------------
def sample_section() -> None:
    st.markdown(TEXT["sample_intro"])
    train_run = slots.get("cd")
    trained = train_run is not None and train_run.step > 0
    sources = ([TRAINED] if trained else []) + list(ANALYTIC)
    names = {TRAINED: TEXT["source_trained"], **{k: t(v.label_key, v.label) for k, v in ANALYTIC.items()}}
    st.sidebar.subheader(TEXT["settings"])
    if not trained:
        st.sidebar.caption(TEXT["sample_none"])
    with st.sidebar:
        speed = st.slider(TEXT["speed"], 5, 60, 30, key="cds_speed")
        trail = st.slider(TEXT["trail"], 0, 40, 15, key="cds_trail")
    scfg = settings_form(SamplingConfig, key="cds", choices={"source": sources}, formats={"source": names.get},
                         fixed={"rate": float(speed)})
    if scfg is None:
        return
    langevin_warning(scfg.eps, scfg.noise)
    # the frozen model is taken from the training run when the sampling run is created
    config = (scfg, id(train_run) if scfg.source == TRAINED else 0)

    def make_run(cfg: tuple[SamplingConfig, int]) -> Run:
        sc = cfg[0]
        if train_run is not None and train_run.state == RUNNING:
            train_run.pause()  # two runs on two cores: give the sampler the CPU
            release_run(train_run)  # … and its place in line now, not after the step in flight
            st.toast(TEXT["paused_training"])
        if sc.source == TRAINED:
            with train_run.model_lock:
                t = train_run.trainer
                trainer = SamplingTrainer(t.model, t.dataset.box, sc, data_sampler=t.dataset.sample,
                                          device=t.device)
        else:
            spec = ANALYTIC[sc.source]
            trainer = SamplingTrainer(spec.make(), spec.box, sc)
        return Run(trainer, RunOptions(max_steps=sc.frames, snapshot_hz=30, evaluate_every_s=0.5), name="cd_sample")

    run = run_controls(slots, "cd_sample", config, make_run, key="cds", text={"train": TEXT["sample"]})
    live = run is not None and run.state == RUNNING
    box = train_run.trainer.dataset.box if scfg.source == TRAINED else ANALYTIC[scfg.source].box
    left, right = st.columns([11, 10], gap="medium")

    @st.fragment(run_every=0.25 if live else None)
    def canvas_fragment() -> None:
        r = slots.get("cd_sample")
        live_canvas(r, key="cds_canvas", extent=(-box, box, -box, box), trail=trail)
        status_line(r)

    @st.fragment(run_every=1.0 if live else None)
    def occupancy_fragment() -> None:
        r = slots.get("cd_sample")
        mixture = getattr(r.trainer, "mixture", None) if r is not None else None
        table = mode_table(r.last_evaluation(), mixture.weights.tolist()) if mixture is not None else None
        if table is not None:
            st.caption(TEXT["occupancy"].format(w=" / ".join(num(w, 1) for w in table["true weight"])))
            shown = pd.DataFrame({**table, "mode": [TEXT["mode_n"].format(n=i + 1) for i in range(len(table["mode"]))]})
            st.dataframe(shown.rename(columns={"mode": TEXT["col_mode"], "particles": TEXT["col_particles"],
                                               "true weight": TEXT["col_true_weight"]}), hide_index=True)
            csv_button(table, TEXT["file_occupancy"], key="cds_occupancy_csv")
        if r is not None and r.history:
            lines = {"mean_energy": TEXT["mean_energy"]}
            chart(curves_figure(r.history, [], lines, height=300, revision="cds_energy", title=TEXT["mean_energy"],
                                x_title=TEXT["frame"]), "cds_energy", TEXT["file_energy"])
            csv_button(curves_table(r.history, [], lines), TEXT["file_energy"], key="cds_energy_csv")

    with left:
        canvas_fragment()
    with right:
        occupancy_fragment()


# ---- PCD and dimension --------------------------------------------------------------------------------
def dimension_rows(rows: list[dict]) -> pd.DataFrame:
    """The rows as shown: the status in words, the columns named in the session's language (the CSV keeps
    the engine's keys)."""
    frame = pd.DataFrame(rows)
    if "diverged_at" in frame:
        frame["status"] = [TEXT["status_ok"] if pd.isna(at) else TEXT["status_diverged"].format(step=int(at))
                           for at in frame.pop("diverged_at")]
    return frame.rename(columns={c: TEXT[f"col_{c}"] for c in DIM_COLUMNS})


def dimension_section() -> None:
    st.sidebar.subheader(TEXT["settings"])
    cfg = settings_form(DimensionConfig, key="cdd")
    if cfg is None:
        return
    exact, uniform = dimension_levels(cfg.dataset, cfg.samples, cfg.hist_grid, cfg.seed)
    st.markdown(TEXT["dimension_intro"].format(spread=sig(cfg.spread), exact=num(exact, 2), uniform=num(uniform, 2)))
    low, high = dimension_minutes(cfg)
    st.caption(TEXT["dim_estimate"].format(m=num(low, 0), M=num(high, 0)))

    def make_run() -> Run:
        trainer = DimensionTrainer(cfg)
        return Run(trainer, RunOptions(max_steps=trainer.total_steps, snapshot_hz=2, evaluate_every_s=1.0),
                   name="cd_dimension")

    def results(r: Run) -> None:
        snap = r.latest()
        rows = snap.data["rows"] if snap is not None else []
        trainer: DimensionTrainer = r.trainer
        if r.state == RUNNING:
            pair = snap.data.get("pair") if snap else None
            current = TEXT["dim_current"].format(method=pair[0], d=pair[1]) if pair else "…"
            st.progress(snap.data["progress"] if snap else 0.0,
                        text=TEXT["dim_progress"].format(current=current, done=len(rows), total=len(trainer.pairs)))
        elif r.state == FAILED:
            st.error(failure_message(r, r.message))
        elif trainer.done:
            st.success(TEXT["dim_done"].format(n=len(rows), s=num(r.elapsed, 0)))
        else:
            st.info(TEXT["dim_stopped"].format(n=len(rows)))
        if rows:
            result = summarise(trainer.cfg, rows)
            chart(dimension_figure(result, trainer.cfg.dims, method_labels(), TEXT["dim_curve"]), "cdd_curve",
                  TEXT["file_dim_curve"])
            csv_button(dimension_table(result), TEXT["file_dim_curve"], key="cdd_curve_csv")
            st.caption(TEXT["dim_table"])
            st.dataframe(dimension_rows(result["rows"]), hide_index=True)
            csv_button(result["rows"], TEXT["file_dim_rows"], key="cdd_rows_csv")

    job_controls(slots, "cd_dimension", make_run, key="cdd", run_label=TEXT["dim_run"], stop_label=TEXT["dim_stop"],
                 every=1.0, results=results)


if mode == "train":
    train_section()
elif mode == "sample":
    sample_section()
else:
    dimension_section()
