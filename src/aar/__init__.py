"""aar: automated alignment research on weak-to-strong (W2S) supervision.

PGR (performance gap recovered) follows Burns et al. 2023, "Weak-to-Strong Generalization:
Eliciting Strong Capabilities With Weak Supervision" (arXiv:2312.09390).
"""

__version__ = "0.1.0"
