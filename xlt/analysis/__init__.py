"""Statistics and the report: estimators and tests, comparisons and families, group-sequential looks,
simulations, the pre-registration, the results matrix, figures, curves, and the cost-and-power plan."""
