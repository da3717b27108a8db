"""Error hierarchy of mlip.

Every error a user can cause derives from :class:`MLIPError` and from the matching builtin
(``ValueError``, ``RuntimeError``, ``FileNotFoundError``) so generic handlers keep working.
Messages name the problem and the fix.
"""


class MLIPError(Exception):
    """Base class of all mlip errors."""


class InvalidSystemError(MLIPError, ValueError):
    """A structure is malformed: NaN positions, degenerate cell, empty, overlapping atoms."""


class UnknownElementError(InvalidSystemError):
    """A structure contains an element the potential was not trained on."""


class PotentialFileError(MLIPError, ValueError):
    """A potential file is missing, corrupted, foreign, or has inconsistent metadata."""


class ConfigError(MLIPError, ValueError):
    """A configuration has an unknown key, a wrong type, or an invalid value."""


class UnknownFidelityError(ConfigError):
    """A fidelity (level of theory) the potential was not trained on, or one given to a
    single-fidelity potential; the message lists the fidelities it knows."""


class DataError(MLIPError, ValueError):
    """A dataset file is malformed or lacks labels the job needs."""


class BackendUnavailableError(MLIPError, RuntimeError):
    """An explicitly requested backend (kernel library, device) is not available here."""


class SimulationError(MLIPError, RuntimeError):
    """An MD run became unstable (non-finite forces, exploding energy, atoms flying)."""


class TrainingError(MLIPError, RuntimeError):
    """Training cannot go on: a non-finite (NaN/inf) loss or gradient. The message names the
    epoch, batch and frames, the likely cause and the fix; files on disk are the last good ones."""
