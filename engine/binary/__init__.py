"""Binary data (≤ 20 bits): every contrastive method scored exactly.

With d ≤ 20 bits the 2^d states can be enumerated, so the partition function Z_θ = Σ_y exp(−E_θ(y))
is exact and every method (maximum likelihood, CD with Metropolis bit flips, PCD, ratio matching,
minimum probability flow, NCE) gets an exact negative log-likelihood.

    data.py        bars-and-stripes 4×4, binarised digits, exactly sampled Ising spins; encodings
    models.py      fully visible Boltzmann machine, RBM (free energy)
    exact.py       enumeration: log Z, NLL, exact samples, coupling errors, total variation
    samplers.py    Metropolis single-bit flips, block Gibbs (RBM), persistent chains, one watched chain
    objectives/    one file per method, the formula in its docstring
    trainer.py     a Trainer (engine.run) stepping one or several methods in lockstep
    cli.py         `python -m engine binary …`
"""
