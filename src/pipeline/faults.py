"""A batch the loop cannot process is quarantined with its reason; the loop goes on."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from data_validation.errors import DataValidationError
from data_validation.quarantine import processing_outcome
from pipeline.outcomes import Run, reject
from training.errors import TrainingError

logger = logging.getLogger(__name__)

# Errors a batch's own data can cause in the stages before the registry (a frame Evidently or
# XGBoost cannot take, a value no step expected). Server trouble is not among them: it fails
# the run and a rerun retries the batch.
# (Not KeyError: a champion whose inputs the spec no longer names raises it on every batch.)
BATCH_FAULTS = (ValueError, IndexError, TypeError, ArithmeticError)


class BatchProcessingError(Exception):
    """A stage failed on the batch's data: the batch is quarantined and the loop goes on."""

    def __init__(self, stage: str, error: BaseException) -> None:
        """Keep the stage and the error it raised."""
        super().__init__(f"{stage}: {error}")
        self.stage, self.error = stage, error


@contextmanager
def guarded(run: Run, stage: str) -> Iterator[None]:
    """Time `stage`; an error the batch's data caused there becomes a `BatchProcessingError`.

    A `TrainingError` (too few rows, one class) is not the batch's fault: it passes through.
    """
    with run.clock(stage):
        try:
            yield
        except TrainingError:
            raise
        except BATCH_FAULTS as exc:
            logger.exception("%s failed on %s: quarantining it", stage, run.batch.name)
            raise BatchProcessingError(stage, exc) from exc


def quarantine_fault(run: Run, fault: BatchProcessingError) -> DataValidationError:
    """Quarantine a batch a stage failed on, with the stage and error as its reason."""
    run.validation = processing_outcome(fault.stage, fault.error)
    return reject(run)
