"""Running untrusted agent code: bubblewrap by default, a loudly unsafe plain-process fallback."""

from aar.sandbox.policy import SandboxPolicy
from aar.sandbox.runner import Sandbox, SandboxResult, bubblewrap_available

__all__ = ["Sandbox", "SandboxPolicy", "SandboxResult", "bubblewrap_available"]
