"""Run bookkeeping: batch files, the ledger, outcomes, decision records, timelines."""
