"""Figures embedded in the self-contained HTML report: a Matplotlib figure becomes a PNG data URI, so the
report is one file with no external resources (and no script)."""

from __future__ import annotations

import base64
import io


def png_data_uri(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
