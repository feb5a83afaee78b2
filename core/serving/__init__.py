"""Using a finished run: loading and predicting, batch scoring, explanations, downloads."""
