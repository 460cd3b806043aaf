"""How the workflow schedules jobs: the rule table, the jobs of a plan, their Snakemake resources and rerun triggers."""
