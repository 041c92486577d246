"""Binary data (≤ 20 bits): every contrastive method scored exactly.

With d ≤ 20 bits the 2^d states can be enumerated, so the partition function Z_θ = Σ_y exp(−E_θ(y))
is exact and every method (maximum likelihood, CD with Metropolis bit flips, PCD, ratio matching,
minimum probability flow, NCE) gets an exact negative log-likelihood.

    config.py      every setting, declared once (range, help, where it applies), and the layered defaults
    data.py        bars-and-stripes 4×4, binarised digits, exactly sampled Ising spins; encodings
    models.py      fully visible Boltzmann machine, RBM (free energy)
    exact.py       enumeration: log Z, NLL, exact samples, coupling errors, total variation
    samplers.py    Metropolis single-bit flips, block Gibbs (RBM), persistent chains, one watched chain
    objectives/    one file per method, the formula in its docstring; its builder's keyword
                   arguments are the method's settings
    trainer.py     a Trainer (engine.run) stepping one or several methods in lockstep
    views.py       what the page draws: lockstep configs, curves, mosaics, the watched chain
    cli.py         `python -m engine binary …`: the settings and run()
"""
