"""The provisioning workflow, journal, lot plans, QA, batch mode and CLI."""
