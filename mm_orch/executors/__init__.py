"""Where benchmark jobs run: a child process per job on this machine (local) or Ray tasks on a cluster (ray).

Both run the same run_benchmark(); results come back to the caller, who writes the reports (and, in the
job service, the SQLite store).
"""
