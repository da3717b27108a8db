"""Active learning (``mlip learn``): explore with MD, select where the committee disagrees,
label with an oracle, retrain; see :mod:`mlip.learn.loop`."""
from mlip.learn.config import LearnConfig
from mlip.learn.loop import learn
from mlip.learn.oracle import Oracle, OracleError

__all__ = ["LearnConfig", "Oracle", "OracleError", "learn"]
