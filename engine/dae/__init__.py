"""Denoising autoencoder as an energy, contrasted with a latent-variable energy.

A DAE r(·) trained to send corrupted points ỹ back to the data y defines the energy
E(y) = ‖y − r(y)‖² (the reconstruction error) and the field r(y) − y. Near the data manifold E grows
like the squared distance (the quadratic bowl); halfway between two branches corrupted points were sent
to both sides, so r(y) ≈ y there and E is flat and low (the flat spot). The latent-variable energy
F(y) = min_z ‖y − g(z)‖² of a decoder g that traces the manifold has no such spot.

Modules: config (every setting, declared once), manifolds (data sets with a known distance), objective
(the DAE loss and its corruptions), model (the MLP autoencoder, E and the field), latent (F, F_β and its
decoder), metrics (midpoint ratio, false-low fraction, growth exponent), trainer / sweep (TrainerBase
implementations; the sweep's own settings), views (what the page draws), arrows, cli, bench.
"""
