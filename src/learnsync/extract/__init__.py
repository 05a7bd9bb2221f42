"""The extract step: read rows from Coursera (all pages), nothing else."""
