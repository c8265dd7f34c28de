"""Assessment: classification schemes, the triage queue, four-eyes grading, exposure budgets."""
