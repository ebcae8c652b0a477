"""Run bookkeeping: batch files, the run ledger, and the decision record of each run."""
