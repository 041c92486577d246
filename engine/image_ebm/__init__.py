"""Energies over images: persistent CD with a replay buffer (and short-run CD) on digits, MNIST,
Fashion-MNIST and the generated shapes, judged by a classifier and a density model fitted on real images.

    config.py      the settings (ImageEBMConfig, ImageEBMRunOptions) and their layered defaults
    data.py        the images in [−1, 1] (read by engine.embed.data), uniform noise, smooth blobs
    models.py      the energies: a small CNN, a ResNet-style one (Swish)
    sampler.py     (clipped) Langevin dynamics, and whether it is true Langevin
    objectives/    one method per file: pcd.py, cd.py
    trainer.py     the Trainer a Run drives: steps, snapshots, evaluations
    judges.py      classifier + density judges, AUROC
    views.py       pictures, histograms, PSNR, freeze and sample
    dimension.py   the same updates at 8×8, 16×16, 28×28
    cli.py         `python -m engine image-ebm`
    bench.py       chains·steps per second
"""
