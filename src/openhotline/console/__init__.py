"""The analyst console: server-rendered HTML pages over accounts, assessment and audit."""
