"""Environments of the processes aar starts, built from allow-lists: each process gets what it needs and no
more. The server gets the admin token but no LLM key; verification workers get neither; a researcher gets its
LLM backend's credentials. Sandboxed children get their own, smaller list (:mod:`aar.sandbox.policy`)."""

from __future__ import annotations

import os

BASE = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV", "AAR_HOME",
        "AAR_UNSAFE_SANDBOX", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM", "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE", "HF_HOME", "CUDA_VISIBLE_DEVICES", "RAY_ADDRESS", "PYTHONPATH")
NETWORK = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE",
           "REQUESTS_CA_BUNDLE")
LLM = ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL")
# Words that make an environment variable's name a secret, for every check that asks: the sandbox refuses such
# variables, the child's audit hook flags reads of them, and the integrity scan flags shell commands naming them.
SECRET_WORDS = ("TOKEN", "KEY", "SECRET", "PASSW", "CREDENTIAL", "AUTH", "DB_URL")


def environment(*names: str, **extra: str) -> dict[str, str]:
    """The allow-listed variables of this process (``BASE`` plus ``names``) and ``extra``."""
    env = {k: os.environ[k] for k in (*BASE, *names) if k in os.environ}
    env.update(extra)
    return env
