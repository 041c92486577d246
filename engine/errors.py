"""The errors a user can cause, each with a `kind` the CLI prints and the pages show.

The CLI turns any of these into one line on stderr and a JSON object `{"error", "kind", "setting"?}` as
its last stdout line (exit status 2); the pages show `str(error)`.
"""

from __future__ import annotations

from typing import Any


class LabError(Exception):
    """Base of every error caused by what the user asked for (not by a bug)."""

    kind = "error"

    def __init__(self, message: str, *, setting: str | None = None):
        super().__init__(message)
        self.setting = setting

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": str(self), "kind": self.kind}
        if self.setting is not None:
            out["setting"] = self.setting
        return out


class SettingError(LabError, ValueError):
    """A setting outside what its declaration allows (or an unknown one)."""

    kind = "invalid_setting"

    def __init__(self, message: str, *, setting: str | None = None, value: Any = None):
        super().__init__(message, setting=setting)
        self.value = value


class DeviceError(LabError, ValueError):
    """A device that does not exist here (`cuda` without a GPU, a misspelt name)."""

    kind = "device"


class DataError(LabError, ValueError):
    """A data file that is missing, unreadable or malformed."""

    kind = "data"


class MissingPackage(LabError, ImportError):
    """An optional package that this experiment needs is not installed."""

    kind = "missing_package"


class OutOfMemory(LabError, MemoryError):
    """The model or the batch does not fit the device's memory."""

    kind = "out_of_memory"
